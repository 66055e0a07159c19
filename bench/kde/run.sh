#!/usr/bin/env bash
# Benchmark: runner's KDE baseline against the same pipeline in scikit-learn
# (PCA(0.95) + GridSearchCV over KernelDensity bandwidths, 5 folds), on MNIST
# with the anomaly-class protocol, for a few classes.
#
#   bench/kde/run.sh [CLASS...]        (default classes: 0 1 7)
#
# MNIST (the four official .gz files) is read from $RUNNER_DATA/mnist (or
# $RUNNER_DATA itself), else ../shared/data/mnist beside the checkout.
# Makes a virtualenv in bench/kde/.venv with numpy and scikit-learn from PyPI.
# Both sides use the same training normals, test set, bandwidth grid, and the
# same bandwidth-search sub-sample and folds (runner's `cv_max_samples`,
# 10,000 by default, drawn with seed 0): a search over all 54,000 points is
# out of scikit-learn's reach here. The final density uses all training
# normals on both sides.
# Prints the AUROCs, the chosen bandwidths and the wall-time ratio. It also
# computes the pipeline with an exact brute-force density in numpy, because
# scikit-learn's tree-based KernelDensity is tens of nats off on this data at
# small bandwidths (see bench.py): runner's AUROC must agree with the exact
# one within 0.005, else the script exits non-zero.
# Time: scikit-learn takes about 15 minutes per class on 2 cores.
# KDE_BENCH_PROFILE picks the cargo profile (default: release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

mnist=""
IFS=: read -r -a dirs <<< "${RUNNER_DATA:-}"
for d in "${dirs[@]}" "$root/../shared/data"; do
    [ -n "$d" ] || continue
    for c in "$d/mnist" "$d"; do
        if [ -f "$c/train-images-idx3-ubyte.gz" ]; then mnist="$c"; break 2; fi
    done
done
if [ -z "$mnist" ]; then
    echo "MNIST not found: set RUNNER_DATA to a folder holding mnist/train-images-idx3-ubyte.gz (and the three other files)" >&2
    exit 2
fi

classes=("$@")
[ ${#classes[@]} -gt 0 ] || classes=(0 1 7)
out="$here/out"
mkdir -p "$out"

venv="$here/.venv"
if ! "$venv/bin/python" -c "import numpy, sklearn" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy scikit-learn
fi

echo "== runner (cargo --profile ${KDE_BENCH_PROFILE:-release}), MNIST from $mnist, classes ${classes[*]}"
cargo run --quiet --profile "${KDE_BENCH_PROFILE:-release}" --example kde_bench -- "$mnist" "$out" "${classes[@]}"
echo "== scikit-learn $("$venv/bin/python" -c 'import sklearn; print(sklearn.__version__)')"
"$venv/bin/python" "$here/bench.py" "$mnist" "$out" "${classes[@]}"
