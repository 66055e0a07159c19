#!/usr/bin/env bash
# The GPU check and timings of the runner, for a machine with a GPU, no
# internet and no Rust: a runner built elsewhere with `--features vulkan`
# (same processor architecture; a glibc at least as new as the build
# machine's) is checked against CPU results brought along, then timed. Every
# step runs under `timeout`; the whole script stays inside --budget seconds
# (8 minutes by default) and writes report.md (times, AUROCs, device) and
# the raw outputs into the output folder. See bench/gpu/README.md.
#
#   bench/gpu/run.sh --runner runner.xz --data DATA --out OUT [options]
#
#   --runner PATH       the runner binary, plain or xz-compressed (required)
#   --data DIR          a folder holding mnist/ (the four official .gz files)
#   --out DIR           where the report and raw outputs go (required)
#   --device D          the --device of the GPU runs (default: vulkan)
#   --libvulkan PATH    libvulkan.so.1 (or its folder) when the machine lacks the loader
#   --budget S          the time box of the whole script in seconds (default 480)
#   --python P          a Python with PyTorch, for its step time (default python3)
#   --cpu-results F     the check spec's results.csv from the CPU (default check/results-cpu.csv)
#   --cpu-ms-per-step X the runner's CPU step time for the ratio (default 1200, README)
#   --tiny              tiny networks and data: a trial of the script itself on a slow
#                       device (lavapipe), not a measurement
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
RUNNER_IN="" DATA="" OUT="" DEVICE="vulkan" LIBVULKAN="" BUDGET=480 PY=python3
CPU_RESULTS="$HERE/check/results-cpu.csv" CPU_MS=1200 TINY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runner) RUNNER_IN="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --device) DEVICE="$2"; shift 2 ;;
        --libvulkan) LIBVULKAN="$2"; shift 2 ;;
        --budget) BUDGET="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --cpu-results) CPU_RESULTS="$2"; shift 2 ;;
        --cpu-ms-per-step) CPU_MS="$2"; shift 2 ;;
        --tiny) TINY=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$RUNNER_IN" ] || [ -z "$OUT" ] || [ -z "$DATA" ]; then
    echo "--runner, --data and --out are required (see --help)" >&2
    exit 2
fi
for f in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz; do
    [ -f "$DATA/mnist/$f" ] || { echo "$DATA/mnist/$f is missing" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
DATA="$(cd "$DATA" && pwd)"
END=$((SECONDS + BUDGET))
LOG="$OUT/log.txt"
: >"$LOG"
say() { echo "$*" | tee -a "$LOG" >&2; }
# Seconds left for a step: at most $1, never past the end of the budget
# (less a 5 s margin for the report).
left() {
    local l=$((END - SECONDS - 5))
    [ "$l" -gt "$1" ] && l="$1"
    [ "$l" -lt 1 ] && l=0
    echo "$l"
}

# --- the binary and the Vulkan loader -------------------------------------
RUNNER="$OUT/bin/runner"
mkdir -p "$OUT/bin"
case "$RUNNER_IN" in
    *.xz) xz -dc "$RUNNER_IN" >"$RUNNER" ;;
    *) cp "$RUNNER_IN" "$RUNNER" ;;
esac
chmod +x "$RUNNER"
if [ -n "$LIBVULKAN" ]; then
    mkdir -p "$OUT/lib"
    if [ -d "$LIBVULKAN" ]; then LIBVULKAN="$LIBVULKAN/libvulkan.so.1"; fi
    cp "$LIBVULKAN" "$OUT/lib/libvulkan.so.1"
    export LD_LIBRARY_PATH="$OUT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export RUNNER_DATA="$DATA" NO_COLOR=1
"$RUNNER" --version >>"$LOG" 2>&1 || { say "the runner does not start here: see $LOG"; exit 1; }

# An NVIDIA driver in a container often lacks its Vulkan ICD file although
# the library that implements it (libGLX_nvidia.so.0) is there: describe it.
"$RUNNER" devices >"$OUT/devices.txt" 2>&1
if ! grep -qi nvidia "$OUT/devices.txt" && command -v nvidia-smi >/dev/null 2>&1; then
    GLX="$( (ldconfig -p 2>/dev/null | grep -o '/[^ ]*libGLX_nvidia.so.0' | head -1) || true)"
    if [ -n "$GLX" ]; then
        mkdir -p "$OUT/icd"
        printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3"}}\n' \
            "$GLX" >"$OUT/icd/nvidia_icd.json"
        export VK_DRIVER_FILES="$OUT/icd/nvidia_icd.json" VK_ICD_FILENAMES="$OUT/icd/nvidia_icd.json"
        say "no NVIDIA Vulkan ICD registered: using $GLX through $OUT/icd/nvidia_icd.json"
        "$RUNNER" devices >"$OUT/devices.txt" 2>&1
    fi
fi
cat "$OUT/devices.txt" >>"$LOG"
GPU_NAME="$(command -v nvidia-smi >/dev/null 2>&1 \
    && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
ADAPTER="$(grep ' (vulkan) \|^'"$DEVICE"' ' "$OUT/devices.txt" | head -1 | tr -s ' ')"
say "device $DEVICE: ${ADAPTER:-none listed}${GPU_NAME:+; nvidia-smi: $GPU_NAME}"

# --- sizes ----------------------------------------------------------------
if [ "$TINY" = 1 ]; then
    GAN="image_size: 16, latent: 8, generator_width: 4, discriminator_width: 4, batch_size: 8"
    LIMITS="train_limit: 64
test_limit: 64"
    K1=2 K2=6 TPUT_STEPS=2 STEP_CAP=120 TPUT_CAP=60 TORCH_ARGS="1 3 2 16 8"
else
    GAN="image_size: 32, latent: 100, generator_width: 64, discriminator_width: 64, batch_size: 64"
    LIMITS=""
    K1=10 K2=60 TPUT_STEPS=100 STEP_CAP=90 TPUT_CAP=45 TORCH_ARGS="1 20 $(nproc) 32 64"
fi
# spec NAME CLASSES EXTRA: a GANomaly spec on MNIST, seed 0.
spec() {
    cat >"$OUT/specs/$1.yaml" <<EOF
name: $1
dataset: mnist
protocol: anomaly-class
classes: $2
seeds: [0]
$LIMITS
methods:
  - ganomaly: {$GAN$3}
EOF
    echo "$OUT/specs/$1.yaml"
}
mkdir -p "$OUT/specs"
# run NAME TIMEOUT ARGS...: a runner run with its own store; prints seconds, or "timeout"/"failed".
run() {
    local name="$1" cap="$2"
    shift 2
    local t0=$SECONDS
    timeout "$cap" "$RUNNER" --store "$OUT/stores/$name" run -q --out "$OUT/reports" "$@" \
        >>"$OUT/$name.out" 2>&1
    local rc=$?
    if [ "$rc" = 124 ]; then echo timeout; elif [ "$rc" != 0 ]; then echo failed; else echo $((SECONDS - t0)); fi
}
# secs T: "T s" for a number of seconds, else T (timeout, failed).
secs() {
    case "$1" in
        ''|*[!0-9]*) echo "$1" ;;
        *) echo "$1 s" ;;
    esac
}
# auroc NAME: the AUROC column of reports/NAME/results.csv, space separated.
auroc() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "auroc") a = i; next } { printf "%.4f ", $a }' \
        "$OUT/reports/$1/results.csv" 2>/dev/null
}
# train_seconds NAME: the training time in the only model manifest of that store.
train_seconds() {
    cat "$OUT"/stores/"$1"/objects/model/*/*/manifest.json 2>/dev/null \
        | sed -n '/"durations"/,/}/p' | grep -o '"train": [0-9.e+-]*' | head -1 | sed 's/.*: //'
}

# --- 1. correctness against the CPU ---------------------------------------
say "1. correctness check (the check spec on $DEVICE vs the CPU's results)"
# A GPU runs the check in seconds; lavapipe (--tiny) needs minutes.
CHECK_LIMIT=150
[ "$TINY" = 1 ] && CHECK_LIMIT=600
CHECK_T=$(run check "$(left "$CHECK_LIMIT")" "$HERE/check/check.yaml" --device "$DEVICE" -j 2)
CHECK="$OUT/check.tsv"
if [ -f "$OUT/reports/gpu-check/results.csv" ]; then
    awk -F, -v tol=0.02 '
        FNR == 1 { for (i = 1; i <= NF; i++) col[FILENAME, $i] = i; next }
        { k = $col[FILENAME, "method"] " class " $col[FILENAME, "class"] " seed " $col[FILENAME, "seed"]
          a = $col[FILENAME, "auroc"]
          if (FILENAME == ARGV[1]) cpu[k] = a; else gpu[k] = a }
        END { bad = 0
          printf "job\tcpu\tgpu\t|diff|\tverdict\n"
          for (k in cpu) { d = gpu[k] - cpu[k]; if (d < 0) d = -d
            v = (k in gpu && d <= tol) ? "ok" : "FAIL"; if (v != "ok") bad = 1
            printf "%s\t%.4f\t%.4f\t%.4f\t%s\n", k, cpu[k], gpu[k], d, v }
          exit bad }' "$CPU_RESULTS" "$OUT/reports/gpu-check/results.csv" >"$CHECK"
    CHECK_OK=$([ $? = 0 ] && echo passed || echo FAILED)
else
    CHECK_OK="not run ($CHECK_T)"
    printf 'job\tcpu\tgpu\t|diff|\tverdict\n' >"$CHECK"
fi
say "   $CHECK_OK ($(secs "$CHECK_T"))"

# --- 2a. the GANomaly training step ---------------------------------------
say "2a. GANomaly training step: $K1 and $K2 steps, the difference of their training times"
T1=$(run step1 "$(left "$STEP_CAP")" "$(spec step1 '[0]' ", max_steps: $K1")" --device "$DEVICE")
T2=$(run step2 "$(left "$STEP_CAP")" "$(spec step2 '[0]' ", max_steps: $K2")" --device "$DEVICE")
S1=$(train_seconds step1) S2=$(train_seconds step2)
STEP_MS=""
if [ -n "$S1" ] && [ -n "$S2" ]; then
    STEP_MS=$(awk -v a="$S1" -v b="$S2" -v k1="$K1" -v k2="$K2" 'BEGIN { printf "%.1f", (b - a) / (k2 - k1) * 1000 }')
fi
say "   ${STEP_MS:-?} ms/step (training ${S1:-?} s for $K1 steps, ${S2:-?} s for $K2; runs $(secs "$T1"), $(secs "$T2"))"
TORCH_MS="" TORCH_DEV=""
if "$PY" -c "import torch" 2>/dev/null; then
    TORCH_DEV=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
    # shellcheck disable=SC2086
    timeout "$(left 60)" "$PY" "$HERE/../ganomaly/step.py" $TORCH_ARGS "$TORCH_DEV" >"$OUT/pytorch.out" 2>&1
    TORCH_MS=$(sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p' "$OUT/pytorch.out")
fi
say "   PyTorch ($TORCH_DEV): ${TORCH_MS:-not measured} ms/step"

# --- 2c. throughput with 1, 2, 4, 8 jobs at once --------------------------
say "2c. throughput: N GANomaly jobs of $TPUT_STEPS steps (classes 0..N-1) with --gpu-jobs N"
TPUT="$OUT/throughput.tsv"
printf 'gpu_jobs\tseconds\tjobs_per_hour\tsteps_per_second\n' >"$TPUT"
BEST_N=1 BEST_RATE=0
for N in 1 2 4 8; do
    CAP=$(left "$TPUT_CAP")
    [ "$CAP" -lt 5 ] && break
    CLASSES="[$(seq -s, 0 $((N - 1)))]"
    T=$(run "tput$N" "$CAP" "$(spec "tput$N" "$CLASSES" ", max_steps: $TPUT_STEPS")" \
        --device "$DEVICE" -j "$N" --gpu-jobs "$N")
    case "$T" in
        ''|*[!0-9]*) printf '%s\t%s\t-\t-\n' "$N" "$T" >>"$TPUT" ;;
        *)
            [ "$T" = 0 ] && T=1
            RATE=$(awk -v n="$N" -v t="$T" 'BEGIN { printf "%.0f", n * 3600 / t }')
            awk -v n="$N" -v t="$T" -v s="$TPUT_STEPS" 'BEGIN { printf "%d\t%d\t%.0f\t%.1f\n", n, t, n * 3600 / t, n * s / t }' >>"$TPUT"
            if [ "$RATE" -gt "$BEST_RATE" ]; then BEST_RATE=$RATE BEST_N=$N; fi ;;
    esac
    say "   $(tail -1 "$TPUT")"
done

# --- 2b. one full-size GANomaly job, then as many classes as fit -----------
say "2b. one full-size GANomaly job on MNIST (class 0, seed 0)"
FULL_T=$(run full "$(left 100000)" "$(spec full '[0]' '')" --device "$DEVICE")
FULL_AUROC=$(auroc full)
say "   $(secs "$FULL_T"), AUROC ${FULL_AUROC:-none}"
CLASSES_DONE=0
if [ "$(left 100000)" -gt 30 ]; then
    say "2c. as many classes of the MNIST GANomaly grid as fit, --gpu-jobs $BEST_N"
    ALL_T=$(run all "$(left 100000)" "$(spec all '[1, 2, 3, 4, 5, 6, 7, 8, 9]' '')" \
        --device "$DEVICE" -j "$BEST_N" --gpu-jobs "$BEST_N")
    CLASSES_DONE=$(find "$OUT/stores/all/objects/result" -name result.json 2>/dev/null | wc -l)
    say "   $CLASSES_DONE of 9 more classes finished ($ALL_T)"
fi

# --- report ---------------------------------------------------------------
# Full-size steps per job: 15 epochs over the normal training images (9
# digits, about 54,000) in batches of 64 (MNIST); CIFAR-10 has 45,000 normal
# images. 30 jobs per table and method (10 classes x 3 seeds).
MNIST_STEPS=12660 CIFAR_STEPS=10545
proj() { # steps ms speedup -> hours for 30 jobs
    awk -v s="$1" -v ms="$2" -v x="$3" 'BEGIN { if (ms == "" || x == 0) print "?"; else printf "%.1f", 30 * s * ms / 1000 / 3600 / x }'
}
SPEEDUP=$(awk -F'\t' 'NR == 2 && $3 != "-" { one = $3 } NR > 1 && $3 != "-" && $3 > best { best = $3 }
    END { if (one > 0) printf "%.2f", best / one; else print 1 }' "$TPUT")
{
    echo "# GPU run of the runner: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- device: \`$DEVICE\`: ${ADAPTER:-?}"
    [ -n "$GPU_NAME" ] && echo "- nvidia-smi: $GPU_NAME"
    echo "- runner: $("$RUNNER" --version 2>/dev/null); budget ${BUDGET} s, used $SECONDS s$([ "$TINY" = 1 ] && echo '; TINY sizes: a trial of the script, not a measurement')"
    echo
    echo "## 1. Correctness: $CHECK_OK"
    echo
    echo '| job | CPU AUROC | GPU AUROC | abs diff | verdict |'
    echo '|---|---|---|---|---|'
    tail -n +2 "$CHECK" | sort | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
    echo
    echo "## 2a. GANomaly training step (batch and networks of the runs below)"
    echo
    echo '| runner on GPU | runner on CPU (README) | PyTorch | GPU vs CPU | GPU vs PyTorch |'
    echo '|---|---|---|---|---|'
    awk -v g="$STEP_MS" -v c="$CPU_MS" -v p="$TORCH_MS" -v pd="$TORCH_DEV" 'BEGIN {
        printf "| %s ms | %s ms | %s ms (%s) | %s | %s |\n", g == "" ? "?" : g, c, p == "" ? "?" : p, pd == "" ? "none" : pd,
            g == "" ? "?" : sprintf("%.1fx faster", c / g), (g == "" || p == "") ? "?" : sprintf("%.2fx the time", g / p) }'
    echo
    echo "## 2b. One full-size GANomaly job (MNIST class 0, seed 0)"
    echo
    case "$FULL_T" in
        timeout) FULL_NOTE=" (it did not finish in the budget left)" ;;
        failed) FULL_NOTE=" (the run failed: see full.out)" ;;
        *) FULL_NOTE="" ;;
    esac
    echo "- wall time: $(secs "$FULL_T")$FULL_NOTE; AUROC: ${FULL_AUROC:-none}"
    echo "- projected from the step time: $(awk -v ms="$STEP_MS" -v s="$MNIST_STEPS" 'BEGIN { if (ms == "") print "?"; else printf "%.1f min", s * ms / 60000 }') of training ($MNIST_STEPS steps)"
    echo
    echo "## 2c. Throughput with N jobs on the GPU at once ($TPUT_STEPS-step jobs, scoring included)"
    echo
    echo '| --gpu-jobs | seconds | jobs/hour | steps/s |'
    echo '|---|---|---|---|'
    tail -n +2 "$TPUT" | awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
    echo
    echo "Best: --gpu-jobs $BEST_N, ${SPEEDUP}x the throughput of one job at a time."
    echo "Full-size classes finished after the single job: $CLASSES_DONE of 9."
    echo
    echo "## Projection: GANomaly's column of a full table (30 jobs), at --gpu-jobs $BEST_N"
    echo
    echo "- MNIST: $(proj "$MNIST_STEPS" "$STEP_MS" "$SPEEDUP") h; CIFAR-10: $(proj "$CIFAR_STEPS" "$STEP_MS" "$SPEEDUP") h (step time of 1 channel; 3 channels cost 3% more FLOP)"
} >"$OUT/report.md"
cat "$OUT/report.md"
