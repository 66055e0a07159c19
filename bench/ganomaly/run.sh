#!/usr/bin/env bash
# Times one GANomaly training step (G and D updates, batch 64, 32x32, 1 and 3
# channels) in the runner (flex backend) and in PyTorch on the CPU, with the
# same thread count, and prints ms/step, the ratio, the step's FLOP count and
# the fraction of the machine's sgemm peak (measured by PyTorch) each reaches.
#
#   bench/ganomaly/run.sh [THREADS] [STEPS]
#
# PyTorch is installed into target/bench-venv on first use (CPU wheels from
# download.pytorch.org, else PyPI).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${1:-$(nproc)}"
STEPS="${2:-10}"
VENV=target/bench-venv

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --retries 0 --timeout 10 --index-url https://download.pytorch.org/whl/cpu torch \
        || "$VENV/bin/pip" install -q torch
fi

cargo build --release --example ganomaly_step
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS"

echo "threads=$THREADS steps=$STEPS (median ms per step)"
printf '%-9s %10s %10s %7s %10s %11s %11s\n' channels runner pytorch ratio GFLOP runner%peak torch%peak
for C in 1 3; do
    R=$(target/release/examples/ganomaly_step "$C" "$STEPS" | sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p')
    OUT=$("$VENV/bin/python" bench/ganomaly/step.py "$C" "$STEPS" "$THREADS")
    P=$(sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p' <<<"$OUT")
    PEAK=$(sed -n 's/sgemm_gflops=//p' <<<"$OUT")
    FLOP=$(sed -n 's/step_gflop=//p' <<<"$OUT")
    awk -v c="$C" -v r="$R" -v p="$P" -v f="$FLOP" -v k="$PEAK" 'BEGIN {
        printf "%-9s %10.1f %10.1f %7.2f %10.2f %10.0f%% %10.0f%%\n",
            c, r, p, r / p, f, 100 * f / (r / 1000) / k, 100 * f / (p / 1000) / k }'
done
echo "sgemm peak (PyTorch, 2048^3, $THREADS threads): ${PEAK} GFLOP/s"
