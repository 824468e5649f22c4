#!/usr/bin/env bash
# Runs the server as the README's first command: installs what the build needs and is
# missing (nasm, through `scripts/setup.sh --no-browser`; needs root or sudo; Debian),
# builds the release binary and runs it with this script's arguments, from the
# directory it was called in (so relative paths in the arguments work):
#   scripts/run.sh --listen 0.0.0.0:8080 --scene room.gltf
# A target directory holding an OpenH264 built before nasm was installed fails the
# build (encoder/build.rs says so); this script then rebuilds that crate once and
# carries on. CARGO_TARGET_DIR and the other cargo variables are honoured.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v cargo >/dev/null 2>&1; then
  echo "run: cargo not found: install a Rust toolchain first (https://rustup.rs)" >&2
  exit 1
fi
bash "$root/scripts/setup.sh" --no-browser
log=$(mktemp)
json=$(mktemp)
trap 'rm -f "$log" "$json"' EXIT
# Cargo reads .cargo/config.toml from the directory it runs in, so it runs in the
# repository. Its JSON messages (to a file) name the binary; its progress and
# diagnostics are shown and kept in a log.
build() {
  { (cd "$root" && cargo build --release --locked -p streamtracer \
    --message-format=json-render-diagnostics 2>&1 >&3 3>&-) | tee "$log" >&2; } 3>"$json"
}
if ! build; then
  # The encoder's build script names this case; anything else is a real failure.
  grep -q "openh264-sys2 in this target directory was built without nasm" "$log" || exit 1
  echo "run: rebuilding OpenH264 with its assembly" >&2
  (cd "$root" && cargo clean --release -p openh264-sys2)
  build
fi
binary=$(grep -o '"executable":"[^"]*/streamtracer"' "$json" | tail -n 1 | cut -d'"' -f4)
rm -f "$log" "$json"
exec "$binary" "$@"
