"""The counting benchmark scores the head counter against known identities, rigid and swaying."""

import pytest
from script_modules import load_script


def test_counts_are_scored_against_the_truth(real_video, monkeypatch, tmp_path):
    if not (real_video.parent / "nuclei_mask.tif").exists():
        pytest.skip("the annotated nuclei image is absent: run tests/fetch_testdata.sh")
    monkeypatch.setenv("DVOS_TESTDATA", str(real_video.parent))
    bench = load_script("benchmarks/count_bench.py")
    monkeypatch.setattr(bench, "FIELDS", bench.FIELDS[:2])  # two swaying settings are enough here
    out = tmp_path / "c.json"
    result = bench.main(["--out", str(out)])
    rigid, swaying = result["rigid"]["cases"], result["swaying"]["cases"]
    assert len(rigid) == len(bench.PANS) and len(swaying) == 2 * 3
    assert all(abs(c["tracked"] - c["true"]) <= 1 for c in rigid)  # panning over real annotations: within one
    assert all(c["true"] > 10 for c in swaying) and result["swaying"]["mean_abs_rel_error"] < 0.3
    assert out.exists() and '"mean_abs_rel_error"' in out.read_text()
