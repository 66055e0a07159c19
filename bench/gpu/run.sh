#!/usr/bin/env bash
# The GPU check and timings of the runner, for a machine with a GPU, no
# internet and no Rust: a runner built elsewhere with `--features vulkan`
# (same processor architecture; a glibc at least as new as the build
# machine's) is checked against CPU results brought along; then each of the
# five GANs' training step at its official settings is timed in the runner
# (and in a second build, e.g. without kernel fusion, when given) and in
# PyTorch on the same GPU, one scoring pass of the test set is timed, and the
# hours of the whole study on this GPU are estimated. Every step runs under
# `timeout`; the whole script stays inside --budget seconds (8 minutes by
# default) and writes report.md and the raw outputs into the output folder.
# See bench/gpu/README.md.
#
#   bench/gpu/run.sh --runner runner.xz --data DATA --out OUT [options]
#
#   --runner PATH          the runner binary, plain or xz-compressed (required)
#   --runner-unfused PATH  a second build to time beside it (e.g. without kernel fusion)
#   --data DIR             a folder holding mnist/ (the four official .gz files)
#   --out DIR              where the report and raw outputs go (required)
#   --device D             the --device of the GPU runs (default: vulkan)
#   --libvulkan PATH       libvulkan.so.1 (or its folder) when the machine lacks the loader
#   --budget S             the time box of the whole script in seconds (default 450:
#                          under 8 minutes with unpacking and the report)
#   --python P             a Python with PyTorch, for its step times (default python3)
#   --cpu-results F        the check spec's results.csv from the CPU (default check/results-cpu.csv)
#   --cpu-ms-per-step X    the runner's GANomaly CPU step time shown beside (default 1200, README)
#   --tiny                 tiny networks and data: a trial of the script itself on a slow
#                          device (lavapipe), not a measurement
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
RUNNER_IN="" UNFUSED_IN="" DATA="" OUT="" DEVICE="vulkan" LIBVULKAN="" BUDGET=450 PY=python3
CPU_RESULTS="$HERE/check/results-cpu.csv" CPU_MS=1200 TINY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runner) RUNNER_IN="$2"; shift 2 ;;
        --runner-unfused) UNFUSED_IN="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --device) DEVICE="$2"; shift 2 ;;
        --libvulkan) LIBVULKAN="$2"; shift 2 ;;
        --budget) BUDGET="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --cpu-results) CPU_RESULTS="$2"; shift 2 ;;
        --cpu-ms-per-step) CPU_MS="$2"; shift 2 ;;
        --tiny) TINY=1; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
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
mkdir -p "$OUT/bin"
# unpack SOURCE DEST: a binary, plain or xz-compressed, made executable.
unpack() {
    case "$1" in
        *.xz) xz -dc "$1" >"$2" ;;
        *) cp "$1" "$2" ;;
    esac
    chmod +x "$2"
}
RUNNER="$OUT/bin/runner"
unpack "$RUNNER_IN" "$RUNNER"
UNFUSED=""
if [ -n "$UNFUSED_IN" ]; then
    UNFUSED="$OUT/bin/runner-unfused"
    unpack "$UNFUSED_IN" "$UNFUSED"
fi
if [ -n "$LIBVULKAN" ]; then
    mkdir -p "$OUT/lib"
    if [ -d "$LIBVULKAN" ]; then LIBVULKAN="$LIBVULKAN/libvulkan.so.1"; fi
    cp "$LIBVULKAN" "$OUT/lib/libvulkan.so.1"
    export LD_LIBRARY_PATH="$OUT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export RUNNER_DATA="$DATA" NO_COLOR=1
"$RUNNER" --version >>"$LOG" 2>&1 || { say "the runner does not start here: see $LOG"; exit 1; }
if [ -n "$UNFUSED" ] && ! "$UNFUSED" --version >>"$LOG" 2>&1; then
    say "the --runner-unfused binary does not start here: timing --runner only"
    UNFUSED=""
fi

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

# What each build says about kernel fusion, if it says anything
# (`runner devices` of a fused build may print a "fusion: on" line).
fusion_of() { "$1" devices 2>/dev/null | grep -i -m1 'fusion' | tr -s ' ' || true; }
FUSION_1="$(fusion_of "$RUNNER")"
FUSION_2=""
[ -n "$UNFUSED" ] && FUSION_2="$(fusion_of "$UNFUSED")"

# --- the five GANs: settings and sizes ------------------------------------
# One row per timed configuration:
#   name | spec key | parameters | batch | steps per epoch S | epochs E | test images scored
# The runner trains E epochs of S steps on B*S (+B/2) normal images
# (train_limit) and its step time is the mean of epochs 2..E (epoch 1 holds
# kernel compilation and autotuning). Parameters are the official ones but
# for what timing needs: no pre-training epochs for FenceGAN (its
# adversarial step is timed), no early stopping for ALAD (no validation
# pass between epochs). FenceGAN's CIFAR-10 network is timed on MNIST
# resized to 32 (one channel instead of three). The scoring pass covers the
# whole MNIST test set (10,000 images), AnoGAN's (500 latent-search steps
# per image) 256 images, scaled to 10,000.
if [ "$TINY" = 1 ]; then
    T="latent: 8, batch_size: 8"
    CONFIGS="ganomaly|ganomaly|image_size: 16, generator_width: 4, discriminator_width: 4, $T|8|2|3|64
anogan|anogan|image_size: 16, generator_width: 4, discriminator_width: 4, latent_steps: 5, score_batch_size: 32, $T|8|2|3|64
alad|alad|image_size: 16, encoder_width: 4, generator_width: 4, dxz_width: 4, dxx_width: 4, dzz_width: 4, early_stop: false, $T|8|2|3|64
fence_gan_mnist|fence_gan|network: mnist, image_size: 16, generator_width: 4, discriminator_width: 4, pretrain: 0, $T|8|2|3|64
fence_gan_cifar10|fence_gan|network: cifar10, image_size: 16, generator_width: 4, discriminator_width: 4, pretrain: 0, $T|8|2|3|64
ocgan|ocgan|depth: 2, generator_width: 4, discriminator_width: 4, classifier_width: 4, $T|8|2|5|64"
    TORCH_SIZES="--side 16 --batch 8 --latent 8 --width 4 --depth 2"
    TORCH_STEPS="--steps 4 --warmup 1"
    RUN_CAP=300 TORCH_CAP=120 CHECK_LIMIT=600
else
    CONFIGS="ganomaly|ganomaly||64|10|4|10000
anogan|anogan||64|10|4|256
alad|alad|early_stop: false|32|10|4|10000
fence_gan_mnist|fence_gan|network: mnist, pretrain: 0|200|10|4|10000
fence_gan_cifar10|fence_gan|network: cifar10, image_size: 32, pretrain: 0|128|10|4|10000
ocgan|ocgan||512|3|5|10000"
    TORCH_SIZES=""
    TORCH_STEPS="--steps 20 --warmup 3"
    RUN_CAP=90 TORCH_CAP=60 CHECK_LIMIT=150
fi
# A second build's runs score a few images only (its scoring is not reported).
SHORT_TEST=256
[ "$TINY" = 1 ] && SHORT_TEST=64

mkdir -p "$OUT/specs" "$OUT/steps"
# run NAME BINARY TIMEOUT ARGS...: a runner run with its own store; prints
# seconds, or "timeout"/"failed"/"skipped".
run() {
    local name="$1" bin="$2" cap="$3"
    shift 3
    # `timeout 0` would mean no limit: with no time left, nothing runs.
    if [ "$cap" -lt 1 ]; then echo skipped; return; fi
    local t0=$SECONDS
    timeout -k 5 "$cap" "$bin" --store "$OUT/stores/$name" run -q --out "$OUT/reports" \
        --checkpoint-min-secs 1000000 "$@" >>"$OUT/$name.out" 2>&1
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
# manifest_value NAME KIND KEY: a duration (train, score) from the only
# model or result manifest of that store.
manifest_value() {
    cat "$OUT"/stores/"$1"/objects/"$2"/*/*/manifest.json 2>/dev/null \
        | sed -n '/"durations"/,/}/p' | grep -o "\"$3\": [0-9.e+-]*" | head -1 | sed 's/.*: //'
}
# step_ms NAME S: mean ms per step over the epochs after the first of the
# only model's training log, S steps per epoch.
step_ms() {
    awk -F, -v s="$2" 'NR > 2 { t += $2; n++ } END { if (n > 0) printf "%.1f", t / (n * s) * 1000 }' \
        "$OUT"/stores/"$1"/objects/model/*/*/training.csv 2>/dev/null
}
# step_spec NAME KEY PARAMS B S E TEST: a one-job spec (MNIST, class 0, seed 0).
step_spec() {
    local test_line=""
    [ "$7" != 10000 ] && test_line="test_limit: $7"
    cat >"$OUT/specs/$1.yaml" <<SPEC
name: $1
dataset: mnist
protocol: anomaly-class
classes: [0]
seeds: [0]
train_limit: $(($4 * $5 + $4 / 2))
$test_line
methods:
  - $2: {${3:+$3, }max_steps: $(($5 * $6))}
SPEC
    echo "$OUT/specs/$1.yaml"
}
# --- 0. training steps against the CPU -------------------------------------
# `runner devices --check`: a few steps of each GAN on the device and on the
# CPU from the same start; a wrong kernel (forward or backward, fused or
# not) shows as a loss or a weight move apart. Quickstart networks, then
# the official MNIST ones (skipped with --tiny). Prints same / DIFFERS /
# failed / timeout / skipped.
# devcheck NAME BINARY CAP ARGS...
devcheck() {
    local name="$1" bin="$2" cap="$3"
    shift 3
    if [ "$cap" -lt 1 ]; then echo skipped; return; fi
    timeout -k 5 "$cap" "$bin" devices --check "$DEVICE" "$@" \
        >"$OUT/devcheck-$name.txt" 2>>"$OUT/devcheck-$name.err"
    case $? in
        0) echo same ;;
        1) echo "DIFFERS ($(grep -c ' DIFFERS$\| FAILED$' "$OUT/devcheck-$name.txt") method(s))" ;;
        124) echo timeout ;;
        *) echo "failed (see devcheck-$name.err)" ;;
    esac
}
say "0. training steps on $DEVICE against the CPU (runner devices --check)"
declare -A DEVCHECK
DEVCHECK_RUNS="quickstart"
[ "$TINY" = 1 ] || DEVCHECK_RUNS="quickstart mnist"
for build in runner unfused; do
    bin="$RUNNER"
    if [ "$build" = unfused ]; then
        [ -n "$UNFUSED" ] || continue
        bin="$UNFUSED"
    fi
    for what in $DEVCHECK_RUNS; do
        # The official networks' CPU side takes a while: two steps, 120 s.
        args=(--steps 3) cap=60
        [ "$what" = mnist ] && args=(--steps 2 --spec "$HERE/../../experiments/mnist.yaml" --offline) cap=120
        DEVCHECK[$build-$what]=$(devcheck "$build-$what" "$bin" "$(left "$cap")" "${args[@]}")
        say "   $build, $what networks: ${DEVCHECK[$build-$what]}"
    done
done

# --- 1. correctness against the CPU ---------------------------------------
say "1. correctness check (the check spec on $DEVICE vs the CPU's results)"
# A GPU runs the check in seconds; lavapipe (--tiny) needs minutes.
CHECK_T=$(run check "$RUNNER" "$(left "$CHECK_LIMIT")" "$HERE/check/check.yaml" --device "$DEVICE" -j 2)
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
case "$CHECK_OK" in
    not*) say "   $CHECK_OK" ;;
    *) say "   $CHECK_OK ($(secs "$CHECK_T"))" ;;
esac


# --- 2. the training step of each GAN, and one scoring pass ---------------
mapfile -t ROWS <<<"$CONFIGS"
declare -A R_MS U_MS P_MS R_T U_T SCORE_S SCORED
TORCH_DEV=""
if "$PY" -c "import torch" 2>/dev/null; then
    TORCH_DEV=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')" 2>/dev/null)
fi
say "2. training steps (mean of epochs 2..E) and a scoring pass, --runner; PyTorch on ${TORCH_DEV:-nothing (no torch)}"
for row in "${ROWS[@]}"; do
    IFS='|' read -r name key params b s e test <<<"$row"
    R_T[$name]=$(run "$name" "$RUNNER" "$(left "$RUN_CAP")" \
        "$(step_spec "$name" "$key" "$params" "$b" "$s" "$e" "$test")" --device "$DEVICE" -j 1)
    R_MS[$name]=$(step_ms "$name" "$s")
    SCORE_S[$name]=$(manifest_value "$name" result score | awk '{ printf "%.2f", $1 }')
    SCORED[$name]=$test
    P_MS[$name]=""
    if [ -n "$TORCH_DEV" ] && [ "$(left "$TORCH_CAP")" -gt 5 ]; then
        # shellcheck disable=SC2086
        timeout -k 5 "$(left "$TORCH_CAP")" "$PY" -W ignore "$HERE/torch_step.py" --method "$name" \
            --threads "$(nproc)" $TORCH_SIZES $TORCH_STEPS >"$OUT/steps/$name.pytorch.out" 2>&1
        P_MS[$name]=$(sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p' "$OUT/steps/$name.pytorch.out")
    fi
    say "   $name: runner ${R_MS[$name]:-?} ms/step ($(secs "${R_T[$name]}")), scoring ${SCORE_S[$name]:-?} s for $test images; PyTorch ${P_MS[$name]:-?} ms/step"
done
if [ -n "$UNFUSED" ]; then
    say "3. the same steps with --runner-unfused (scoring $SHORT_TEST images)"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name key params b s e test <<<"$row"
        U_T[$name]=$(run "$name-unfused" "$UNFUSED" "$(left "$RUN_CAP")" \
            "$(step_spec "$name-unfused" "$key" "$params" "$b" "$s" "$e" "$SHORT_TEST")" --device "$DEVICE" -j 1)
        U_MS[$name]=$(step_ms "$name-unfused" "$s")
        say "   $name: ${U_MS[$name]:-?} ms/step ($(secs "${U_T[$name]}"))"
    done
fi

# --- 4. if time is left: several GANomaly jobs at once --------------------
TPUT="$OUT/throughput.tsv"
printf 'gpu_jobs\tseconds\tsteps_per_second\n' >"$TPUT"
if [ "$TINY" = 1 ]; then TPUT_STEPS=4 TPUT_B=8 TPUT_P="image_size: 16, latent: 8, generator_width: 4, discriminator_width: 4, batch_size: 8, "
else TPUT_STEPS=100 TPUT_B=64 TPUT_P=""; fi
SPEEDUP="" BEST_N=1
if [ "$(left 100000)" -gt 90 ]; then
    say "4. throughput: N GANomaly jobs of $TPUT_STEPS steps (classes 0..N-1) with --gpu-jobs N"
    ONE=0 BEST=0
    for N in 1 2 4; do
        CAP=$(left 60)
        [ "$CAP" -lt 10 ] && break
        cat >"$OUT/specs/tput$N.yaml" <<SPEC
name: tput$N
dataset: mnist
protocol: anomaly-class
classes: [$(seq -s, 0 $((N - 1)))]
seeds: [0]
train_limit: $((TPUT_B * TPUT_STEPS + TPUT_B / 2))
test_limit: $SHORT_TEST
methods:
  - ganomaly: {${TPUT_P}max_steps: $TPUT_STEPS}
SPEC
        T=$(run "tput$N" "$RUNNER" "$CAP" "$OUT/specs/tput$N.yaml" --device "$DEVICE" -j "$N" --gpu-jobs "$N")
        case "$T" in
            ''|*[!0-9]*) printf '%s\t%s\t-\n' "$N" "$T" >>"$TPUT" ;;
            *)
                [ "$T" = 0 ] && T=1
                RATE=$(awk -v n="$N" -v t="$T" -v s="$TPUT_STEPS" 'BEGIN { printf "%.2f", n * s / t }')
                printf '%s\t%s\t%s\n' "$N" "$T" "$RATE" >>"$TPUT"
                [ "$N" = 1 ] && ONE=$RATE
                if awk -v a="$RATE" -v b="$BEST" 'BEGIN { exit !(a > b) }'; then BEST=$RATE BEST_N=$N; fi ;;
        esac
        say "   $(tail -1 "$TPUT")"
    done
    SPEEDUP=$(awk -v a="$BEST" -v b="$ONE" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
fi

# --- the estimate of the whole study --------------------------------------
# Per method and dataset, one job = (epochs x floor(training images /
# batch)) steps at the measured step time + one scoring pass of the 10,000
# test images (both test sets have 10,000) + for ALAD, its early-stopping
# pass over the held-out quarter after every epoch (at the scoring speed);
# 30 jobs (10 classes x 3 seeds) per dataset. Normal training images: MNIST
# ~54,000 (nine digits), CIFAR-10 45,000 (nine classes of 5,000).
#   method | config MNIST | config CIFAR-10 | epochs MNIST | epochs CIFAR-10 | batch MNIST | batch CIFAR-10 | trained fraction | held-out fraction
STUDY="GANomaly|ganomaly|ganomaly|15|15|64|64|1|0
AnoGAN|anogan|anogan|25|25|64|64|1|0
ALAD|alad|alad|100|100|32|32|0.75|0.25
FenceGAN|fence_gan_mnist|fence_gan_cifar10|115|165|200|128|1|0
OCGAN|ocgan|ocgan|200|200|512|512|1|0"
N_MNIST=54000 N_CIFAR=45000 KDE_JOB_S=39
# steps EPOCHS BATCH N FRACTION: training steps of one job.
steps() { awk -v e="$1" -v b="$2" -v n="$3" -v f="$4" 'BEGIN { printf "%d", e * int(n * f / b) }'; }
# job_h STEPS MS SCORE10K EPOCHS N HELD: hours of 30 jobs ("?" when a time is missing).
job_h() {
    awk -v st="$1" -v ms="$2" -v sc="$3" -v e="$4" -v n="$5" -v v="$6" 'BEGIN {
        if (ms == "" || sc == "") { print "?"; exit }
        printf "%.1f", 30 * (st * ms / 1000 + sc + e * n * v * sc / 10000) / 3600 }'
}
score10k() { # NAME: seconds of a 10,000-image scoring pass
    awk -v s="${SCORE_S[$1]:-}" -v n="${SCORED[$1]:-}" 'BEGIN { if (s != "" && n > 0) printf "%.1f", s * 10000 / n }'
}
EST="$OUT/estimate.tsv"
printf 'method\tmnist_steps\tcifar10_steps\trunner_h\tunfused_h\tpytorch_h\n' >"$EST"
mapfile -t SROWS <<<"$STUDY"
for row in "${SROWS[@]}"; do
    IFS='|' read -r m cm cc em ec bm bc f v <<<"$row"
    sm=$(steps "$em" "$bm" "$N_MNIST" "$f") sc=$(steps "$ec" "$bc" "$N_CIFAR" "$f")
    line="$m\t$sm\t$sc"
    for which in R_MS U_MS P_MS; do
        declare -n MS="$which"
        a=$(job_h "$sm" "${MS[$cm]:-}" "$(score10k "$cm")" "$em" "$N_MNIST" "$v")
        c=$(job_h "$sc" "${MS[$cc]:-}" "$(score10k "$cc")" "$ec" "$N_CIFAR" "$v")
        line="$line\t$(awk -v a="$a" -v c="$c" 'BEGIN { if (a == "?" || c == "?") print "?"; else printf "%.1f", a + c }')"
        unset -n MS
    done
    printf "$line\n" >>"$EST"
done
KDE_H=$(awk -v s="$KDE_JOB_S" 'BEGIN { printf "%.1f", 60 * s / 3600 }')

# --- report ---------------------------------------------------------------
UNF="runner-unfused"
[ -z "$UNFUSED" ] && UNF="runner-unfused (not given)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "?"; else printf "%.2f", a / b }'; }
num() { if [ -n "$1" ]; then echo "$1"; else echo "?"; fi; }
{
    echo "# GPU run of the runner: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- device: \`$DEVICE\`: ${ADAPTER:-?}"
    [ -n "$GPU_NAME" ] && echo "- nvidia-smi: $GPU_NAME"
    echo "- runner: $("$RUNNER" --version 2>/dev/null)${FUSION_1:+ ($FUSION_1)}; budget ${BUDGET} s, used $SECONDS s$([ "$TINY" = 1 ] && echo '; TINY sizes: a trial of the script, not a measurement')"
    [ -n "$UNFUSED" ] && echo "- runner-unfused: $("$UNFUSED" --version 2>/dev/null)${FUSION_2:+ ($FUSION_2)}"
    echo "- PyTorch: $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none) on ${TORCH_DEV:-nothing}"
    echo
    echo "## 0. Training steps against the CPU (runner devices --check)"
    echo
    for f in "$OUT"/devcheck-*.txt; do
        [ -f "$f" ] || continue
        n="$(basename "$f" .txt)"
        echo "### ${n#devcheck-}: ${DEVCHECK[${n#devcheck-}]:-?}"
        echo
        echo '```'
        cat "$f"
        echo '```'
        echo
    done
    echo "## 1. Correctness: $CHECK_OK"
    echo
    echo '| job | CPU AUROC | GPU AUROC | abs diff | verdict |'
    echo '|---|---|---|---|---|'
    tail -n +2 "$CHECK" | sort | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
    echo
    echo "## 2. Training step, official settings (MNIST, one channel), ms/step"
    echo
    echo "Runner: mean of epochs 2..E of a one-job run; PyTorch: bench/gpu/torch_step.py, mean of timed steps."
    echo
    echo "| GAN | batch | runner | $UNF | PyTorch | runner / PyTorch | unfused / PyTorch |"
    echo '|---|---|---|---|---|---|---|'
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name key params b s e test <<<"$row"
        echo "| $name | $b | $(num "${R_MS[$name]}") | $(num "${U_MS[$name]:-}") | $(num "${P_MS[$name]}") | $(ratio "${R_MS[$name]}" "${P_MS[$name]}") | $(ratio "${U_MS[$name]:-}" "${P_MS[$name]}") |"
    done
    echo
    echo "GANomaly's runner step on 2 CPU cores (README): $CPU_MS ms."
    echo
    echo "## 3. One scoring pass (runner), MNIST test set"
    echo
    echo '| GAN | images scored | seconds | seconds per 10,000 images |'
    echo '|---|---|---|---|'
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name key params b s e test <<<"$row"
        echo "| $name | $test | $(num "${SCORE_S[$name]}") | $(num "$(score10k "$name")") |"
    done
    echo
    echo "## 4. Several GANomaly jobs at once (time left after the above)"
    echo
    echo '| --gpu-jobs | seconds | steps/s |'
    echo '|---|---|---|'
    tail -n +2 "$TPUT" | awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
    echo
    if [ -n "$SPEEDUP" ]; then
        echo "Best: --gpu-jobs $BEST_N, ${SPEEDUP}x the steps/s of one job at a time."
    else
        echo "Not measured (no time left, or the runs did not finish in their time box)."
    fi
    echo
    echo "## 5. Estimated hours of the whole study on this GPU (one job at a time)"
    echo
    echo "6 methods x 2 datasets x 10 classes x 3 seeds. A job: epochs x floor(normal training images / batch) steps"
    echo "(MNIST ~$N_MNIST images, CIFAR-10 $N_CIFAR) at the step time above, plus a scoring pass of 10,000 test"
    echo "images; ALAD: 100 epochs (its cap: early stopping may end it sooner) on 75% of the images and an"
    echo "early-stopping pass over the other 25% after each; FenceGAN: its 15 pre-training epochs counted at"
    echo "the adversarial step's time. CIFAR-10 jobs use the one-channel step time (FenceGAN: its CIFAR-10"
    echo "network's). The unfused and PyTorch columns use the runner's scoring time."
    echo
    echo "| method | steps/job MNIST | steps/job CIFAR-10 | runner h | $UNF h | PyTorch step time h |"
    echo '|---|---|---|---|---|---|'
    tail -n +2 "$EST" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
    echo "| KDE (CPU, beside the GPU jobs) | - | - | $KDE_H (CPU) | | |"
    tail -n +2 "$EST" | awk -F'\t' '
        { for (i = 4; i <= 6; i++) { if ($i == "?") bad[i] = 1; else t[i] += $i } }
        END { printf "| **GANs in all** | | |"; for (i = 4; i <= 6; i++) printf " %s |", (i in bad) ? "?" : sprintf("**%.1f**", t[i]); print "" }'
    echo
    echo "KDE: $KDE_JOB_S s per job on 2 CPU cores (docs/performance.md, MNIST; CIFAR-10 taken as equal), not measured here."
} >"$OUT/report.md"
cat "$OUT/report.md"
