#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test of the workspace
# in release mode (the tests render and encode real video; unoptimised they crawl),
# then the render-core and encoder tests again with STREAMTRACER_PORTABLE=1, so that
# the portable code paths (what a processor without AVX2 and FMA runs) are tested as
# well as the AVX2 ones the first run chose, then a short run of every fuzz target (scripts/fuzz.sh, FUZZ_SECONDS each, default
# 5; 0 skips it). Ends with one line totalling every test binary and the fuzz targets
# (fuzz.sh prints a `test result:` line of its own), since cargo's own last line is the
# last doc-test run's; a failed fuzz build, which counts no target, is named after it.
# The web client's unit tests (web-client/test/, Node's test runner) run first and
# count in that line too (their TAP summary as a `test result:` line).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log" "$log.node"' EXIT
status=0
# The browser-side logic: plain ES modules, tested without a browser.
node --test --test-reporter=tap web-client/test/*.test.js > "$log.node" 2>&1 || status=$?
cat "$log.node"
awk '/^# pass / { p = $3 } /^# fail / { f = $3 }
     END { printf "test result: %s. %d passed; %d failed (web client, node --test)\n", (f || p == "" ? "FAILED" : "ok"), p, f }' \
  "$log.node" | tee "$log"
rm -f "$log.node"
cargo test --workspace --release --locked "$@" 2>&1 | tee -a "$log" || status=$?
# The crates that hold the SIMD kernels, on the portable paths: their test binaries
# from the run above, run again with STREAMTRACER_PORTABLE=1 (each from its crate's
# folder, as cargo runs them). Asking cargo for them by package would resolve the
# dependencies' features for those packages alone and rebuild half the workspace.
echo "tests again on the portable code paths (STREAMTRACER_PORTABLE=1):"
artifacts=$(cargo test --workspace --release --locked --no-run --message-format=json "$@" 2>/dev/null)
for crate in render-core encoder; do
  for bin in $(printf '%s\n' "$artifacts" \
      | grep "\"package_id\":\"[^\"]*/$crate#" | grep '"test":true' \
      | grep -o '"executable":"[^"]*"' | cut -d'"' -f4); do
    (cd "$crate" && STREAMTRACER_PORTABLE=1 "$bin") 2>&1 | tee -a "$log" || status=1
  done
done
fuzz=0
if [ "${FUZZ_SECONDS:-5}" != 0 ]; then
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-5}" 2>&1 | tee -a "$log" || fuzz=$?
fi
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
if [ "$fuzz" != 0 ]; then
  echo "fuzz: FAILED (exit $fuzz)"
  status=1
fi
exit "$status"
