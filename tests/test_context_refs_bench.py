"""The context-references benchmark times both ways on real footage, and both ways give the same masks."""

from script_modules import load_script


def test_both_ways_are_timed_and_agree(real_video, monkeypatch, tmp_path):
    monkeypatch.setenv("DVOS_TESTDATA", str(real_video.parent))
    bench = load_script("benchmarks/context_refs_bench.py")
    out = tmp_path / "r.json"
    result = bench.main(["--presets", "tiny", "--sizes", "96x128", "--frames", "3", "--out", str(out)])
    (case,) = result["cases"]
    assert case["size"] == [96, 128] and set(case["s_per_frame"]) == {"all", "one"}
    assert min(case["s_per_frame"].values()) > 0 and case["max_abs_diff"] < 1e-4
    assert out.exists() and '"all_over_one"' in out.read_text()
