#!/usr/bin/env bash
# Prints every benchmark figure: renderer, encoder, and end to end against the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-browser
cargo build --release -p streamtracer
cargo bench -p render-core --bench render
cargo bench -p encoder --bench encode
cargo bench -p streamtracer-tests --bench stream
cargo bench -p streamtracer-tests --bench latency
