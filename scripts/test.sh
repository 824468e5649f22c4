#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test of the workspace
# in release mode (the tests render and encode real video; unoptimised they crawl),
# then a short run of every fuzz target (scripts/fuzz.sh, FUZZ_SECONDS each, default
# 5; 0 skips it). Ends with one line totalling every test binary, since cargo's own
# last line is the last doc-test run's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --release --locked "$@" 2>&1 | tee "$log" || status=$?
if [ "${FUZZ_SECONDS:-5}" != 0 ]; then
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-5}" || status=1
fi
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
