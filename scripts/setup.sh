#!/usr/bin/env bash
# Installs the system packages Streamtracer needs, from Debian's archive:
#   nasm                       OpenH264's SIMD assembly (about 3x faster encoding);
#                              without it the build silently falls back to C.
#   chromium, chromium-driver  the browser end-to-end tests.
#   nodejs                     the web client's unit tests (node --test; Node 18 or later).
# and then Open Image Denoise's CPU runtime, from PyPI, into .deps/oidn (scripts/oidn.sh).
# Idempotent: does nothing when everything is already there. Needs root (or sudo).
set -euo pipefail
here="$(dirname "$0")"

need=()
command -v nasm >/dev/null 2>&1 || need+=(nasm)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ "${1:-}" = "--no-browser" ]; then
  need=("${need[@]/chromium-driver/}")
  need=("${need[@]/chromium/}")
fi
packages=()
for p in "${need[@]}"; do [ -n "$p" ] && packages+=("$p"); done
if [ ${#packages[@]} -eq 0 ]; then
  echo "setup: system packages already installed"
  exec bash "$here/oidn.sh"
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${packages[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup: done"
exec bash "$here/oidn.sh"
