#!/usr/bin/env bash
# Remakes every table of results/ from the specs in results/specs/: runs
# them (jobs already in the store are not run again), then writes the tables
# with `runner report` and copies its Markdown and CSV files here. Every
# number under results/ comes from these commands.
#
#   results/make.sh                 # all records
#   results/make.sh kde-mnist       # one record
#   results/make.sh gan-mnist-reduced-alad
#                                   # one spec of a record (GAN records):
#                                   # its files only, the others kept
#
# Environment: RUNNER (default target/release/runner), RUNNER_STORE (default
# cache), RUNNER_DATA (where mnist/, cifar10-jpeg/ are; Fashion-MNIST also
# comes from /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNNER=${RUNNER:-target/release/runner}
STORE=${RUNNER_STORE:-cache}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# record name: the specs it puts side by side
declare -A RECORDS=(
  [kde-mnist]="kde-mnist-anomaly-class kde-mnist-one-class"
  [kde-fashion-mnist]="kde-fashion-mnist-anomaly-class kde-fashion-mnist-one-class"
  [kde-cifar10-jpeg]="kde-cifar10-jpeg-anomaly-class kde-cifar10-jpeg-one-class"
  [gan-mnist-reduced]="gan-mnist-reduced gan-mnist-reduced-alad gan-mnist-reduced-ocgan gan-mnist-reduced-anogan"
)
# the record a spec belongs to, for a spec name given alone
record_of() {
  local r s
  for r in "${!RECORDS[@]}"; do
    for s in ${RECORDS[$r]}; do
      [ "$s" = "$1" ] && { echo "$r"; return; }
    done
  done
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(kde-mnist kde-fashion-mnist kde-cifar10-jpeg gan-mnist-reduced)
  : > results/VERSION
fi

# VERSION: one line per record or spec, the runner that last wrote it
version="$("$RUNNER" --version), binary sha256 $(sha256sum "$RUNNER" | cut -c1-16)"
touch results/VERSION
for name in "${names[@]}"; do
  one=""
  if [ -z "${RECORDS[$name]+x}" ]; then
    one=$name
    name=$(record_of "$one")
    if [ -z "$name" ] || [[ $name == kde-* ]]; then
      echo "make.sh: no record or GAN record spec named '$one'" >&2
      exit 2
    fi
  fi
  grep -v "^${one:-$name}: " results/VERSION > "$work/VERSION" || true
  echo "${one:-$name}: $version" >> "$work/VERSION"
  sort "$work/VERSION" > results/VERSION
  specs=()
  for s in ${one:-${RECORDS[$name]}}; do specs+=("results/specs/$s.yaml"); done
  for s in "${specs[@]}"; do
    start=$(date +%s)
    "$RUNNER" --store "$STORE" run -q --no-report "$s"
    echo "$s: $(( $(date +%s) - start )) s" >&2
  done
  mkdir -p "results/$name"
  if [[ $name == kde-* ]]; then
    # one method under two protocols: side by side
    "$RUNNER" --store "$STORE" report -q --out "$work" --name "$name" "${specs[@]}" >/dev/null
    cp "$work/$name/table.md" "results/$name/side-by-side.md"
    cp "$work/$name/table.csv" "results/$name/side-by-side.csv"
  else
    for s in "${specs[@]}"; do
      "$RUNNER" --store "$STORE" report -q --out "$work" "$s" >/dev/null
    done
  fi
  for s in ${one:-${RECORDS[$name]}}; do
    for f in table.md table.csv results.csv training.md training.csv; do
      [ -f "$work/$s/$f" ] && cp "$work/$s/$f" "results/$name/$s.$f"
    done
  done
done
echo "results: $(printf '%s ' "${names[@]}")" >&2
