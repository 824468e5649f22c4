#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ and runs each for SECONDS (default 5), starting
# from its committed corpus (fuzz/corpus/<target>/). New inputs found go to a scratch
# directory, so the committed corpus only changes on purpose. Prints one line per
# target (executions, crashes), then a `test result:` line counting the targets as
# passed (no crash) or failed, in cargo's format so that scripts/test.sh's total
# includes them; fails if any target crashed; the crashing input is kept in
# fuzz/artifacts/<target>/.
#
# Runs of 30 s or less (the test command's) use a fixed seed (-seed=1), so that they
# explore the same inputs every time; longer runs use a random seed. FUZZ_SEED sets it
# (0: random). The seed is printed either way.
#
# The build always goes to fuzz/target (whatever CARGO_TARGET_DIR says). A cold build
# compiles every dependency instrumented: several minutes on 2 cores; warm, seconds.
#
#   scripts/fuzz.sh                    # every target, 5 s each (what scripts/test.sh runs)
#   scripts/fuzz.sh 600                # the long run: 10 min per target
#   scripts/fuzz.sh 60 journal         # one target
#
# Works on stable Rust: the instrumentation flags below are the ones `cargo fuzz build
# --sanitizer none` passes (all stable `-C` options), so neither a nightly nor
# cargo-fuzz is needed. With cargo-fuzz installed, `cd fuzz && cargo fuzz run -s none
# <target>` is the same build (add `-s address` on a nightly for AddressSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(control_message edit_transaction whep_offer scene_gltf scene_obj scene_json journal)
fi

host=$(rustc -vV | sed -n 's/^host: //p')
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
flags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth"
flags+=" -Cdebug-assertions -Ccodegen-units=1"
# RUSTFLAGS replaces any rustflags a .cargo/config.toml sets, so code generation
# must not be chosen there: the workspace builds for baseline x86-64 and picks its
# AVX2 kernels at run time, which this build keeps, so the targets run the code
# paths the server runs on this processor. Flags already in RUSTFLAGS (as the
# server's build got them) are kept too.
flags="${RUSTFLAGS:+$RUSTFLAGS }$flags"
# --target keeps build scripts and proc macros uninstrumented, as cargo-fuzz does.
if [ "$seconds" -le 30 ]; then
  seed="${FUZZ_SEED:-1}"
else
  seed="${FUZZ_SEED:-0}"
fi
echo "fuzz: building ${#targets[@]} targets (libFuzzer, stable $(rustc -V | cut -d' ' -f2))"
RUSTFLAGS="$flags" cargo build --manifest-path fuzz/Cargo.toml --locked --release \
  --target "$host" --target-dir fuzz/target --bins --quiet
bin="fuzz/target/$host/release"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
passed=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "$scratch/tmp-$t" "fuzz/artifacts/$t"
  log="$scratch/$t.log"
  status=0
  # The targets' scratch directories (fuzz/src/lib.rs) are never removed, since
  # libFuzzer ends the process with exit(): TMPDIR puts them under $scratch.
  TMPDIR="$scratch/tmp-$t" "$bin/$t" "$scratch/$t" "fuzz/corpus/$t" \
    -max_total_time="$seconds" -seed="$seed" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$scratch/$t" "fuzz/corpus/$t" -type f | wc -l)
  # The seed libFuzzer used (it picks one when given 0).
  used=$(sed -n 's/.*Seed: \([0-9]*\).*/\1/p' "$log" | head -1 || true)
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $t: ${execs:-?} executions in ${seconds}s, seed ${used:-$seed}, 0 crashes (corpus $corpus inputs)"
  else
    failed=$((failed + 1))
    echo "fuzz $t: CRASH after ${execs:-?} executions, seed ${used:-$seed} (exit $status); input kept in fuzz/artifacts/$t/:"
    { grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" || true; } | head -8 | sed 's/^/  /'
  fi
done
if [ "$failed" -eq 0 ]; then
  echo "test result: ok. $passed passed; 0 failed (fuzz targets, ${seconds}s each)"
else
  echo "test result: FAILED. $passed passed; $failed failed (fuzz targets, ${seconds}s each)"
fi
[ "$failed" -eq 0 ]
