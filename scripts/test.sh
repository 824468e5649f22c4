#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test of the workspace
# in release mode (the tests render and encode real video; unoptimised they crawl).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --release --locked "$@"
