#!/usr/bin/env bash
# Prints every benchmark figure: renderer, encoder, and end to end against the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-browser
cargo build --release -p streamtracer
cargo bench -p render-core --bench render
cargo bench -p encoder --bench convert
cargo bench -p encoder --bench encode
# The same without OpenH264's assembly (a separate build of it, in its own directory).
OPENH264_NO_ASM=1 CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/no-asm" \
    cargo bench -p encoder --bench encode
cargo bench -p streamtracer-tests --bench stream
cargo bench -p streamtracer-tests --bench latency
cargo bench -p streamtracer-tests --bench edits
cargo bench -p streamtracer-tests --bench fanout
cargo bench -p streamtracer-tests --bench snapshots
cargo bench -p streamtracer-tests --bench websockets
# Long the first time: it renders and caches 4096-spp references (target/time-to-quality).
cargo bench -p streamtracer-tests --bench time_to_quality
