#!/usr/bin/env bash
# Installs Intel Open Image Denoise's CPU runtime for the denoiser (crate `denoise`)
# into .deps/oidn/lib of this repository, where every binary built from it looks
# first. Debian has no package of it; PyPI's `pyoidn` wheel ships Intel's official
# Linux x86-64 build, so pip fetches that wheel (pinned: version and SHA-256) and only
# the four files the CPU device needs are kept (the library, its core with the
# trained weights, the CPU device module and TBB); the GPU modules are not.
# Idempotent. On other platforms it says so and succeeds: the server then streams
# without denoising.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.deps/oidn/lib"
version=2.5.1.0
sha256=32ad13368f8de1ef63001942ad05b02a00cd732d1206d97f352d3a3f606d823e
files=(libOpenImageDenoise.so.2 libOpenImageDenoise_core.so.2.5.1 libOpenImageDenoise_device_cpu.so.2.5.1 libtbb.so.12)

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "oidn: no Open Image Denoise runtime for $(uname -s)-$(uname -m) from PyPI; the server will not denoise"
  exit 0
fi
complete=1
for f in "${files[@]}"; do [ -s "$dest/$f" ] || complete=0; done
if [ "$complete" = 1 ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "oidn: runtime $version already in .deps/oidn"
  exit 0
fi
python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "oidn: python3 with pip is needed to fetch the runtime (Debian: apt-get install python3-pip)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "pyoidn==$version --hash=sha256:$sha256" > "$work/requirements.txt"
echo "oidn: fetching pyoidn $version from PyPI (about 88 MB)"
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux2014_x86_64 --require-hashes -r "$work/requirements.txt" -d "$work"
rm -rf "$dest.new"
mkdir -p "$dest.new"
"$python" - "$work"/pyoidn-*.whl "$dest.new" "${files[@]}" <<'PY'
import os, sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        path = os.path.join(dest, name)
        with open(path, "wb") as out:
            out.write(z.read("pyoidn/oidn/lib/" + name))
        os.chmod(path, 0o755)
PY
echo "$version" > "$dest.new/VERSION"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "oidn: runtime $version installed in .deps/oidn/lib"
