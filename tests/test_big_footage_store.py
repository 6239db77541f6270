"""Reading a large object bank (thousands of heads and fakes cut from 1080p frames: tens of MB, one array row per
byte) costs no Python work per byte: the chunk checks take a slice as a range of chunks (listing its rows took 4 s
per read of a 24 MB bank)."""

import numpy as np
import pytest

from dvos_core.store import arrays
from dvos_core.store.arrays import chunks_of, row_indices


def test_chunks_of_a_slice_match_its_rows():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        n, step = int(rng.integers(0, 60)), int(rng.integers(1, 9))
        start, stop = (int(v) if rng.random() < 0.8 else None for v in rng.integers(-70, 70, 2))
        stride = [None, 1, 2, 3, -1, -2][int(rng.integers(6))]
        rows = slice(start, stop, stride)
        assert chunks_of(rows, n, step) == sorted({r // step for r in row_indices(rows, n) if 0 <= r < n}), rows
    assert chunks_of([5, 1, 9, 5], 10, 4) == [0, 1, 2] and chunks_of(3, 10, 4) == [0]


def test_loading_the_bank_lists_no_rows(tmp_project, monkeypatch):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (40, 50, 4), dtype=np.uint8) for _ in range(6)]  # 48,000 bytes: 48,000 rows
    tmp_project.objects.add((c, {"kind": "head" if i % 2 else "fake"}) for i, c in enumerate(crops))
    listed = row_indices

    def no_long_lists(rows, n):
        if isinstance(rows, slice) and len(range(*rows.indices(n))) > 1000:
            raise AssertionError(f"listed the {len(range(*rows.indices(n)))} rows of {rows}")
        return listed(rows, n)

    monkeypatch.setattr(arrays, "row_indices", no_long_lists)
    got = tmp_project.objects.load()
    assert len(got) == 6 and all(np.array_equal(a, c) for (a, _), c in zip(got, crops))
    assert [r["kind"] for _, r in tmp_project.objects.load("head")] == ["head"] * 3


@pytest.mark.parametrize("remove", [0, 1])
def test_a_missing_chunk_of_the_bank_is_still_named(tmp_project, remove):
    import re
    from pathlib import Path

    from dvos_core.store.schema import DamagedStoreError

    rng = np.random.default_rng(2)
    big = [rng.integers(0, 256, (300, 300, 4), dtype=np.uint8) for _ in range(4)]  # 1.44 MB: two 1 MB chunks
    tmp_project.objects.add((c, {"kind": "head"}) for c in big)
    pixels = tmp_project.objects.group["pixels"]
    chunk = Path(arrays._chunk_file(pixels, remove))
    assert chunk.is_file()
    chunk.unlink()
    with pytest.raises(DamagedStoreError, match=re.escape(str(chunk))):
        tmp_project.objects.load()
