"""benchmarks/footage_bench.py runs on a small version of its footage and finds the old and new ways agree."""

from script_modules import load_script


def test_footage_bench_parts_agree_old_and_new(real_video, tmp_path):
    bench = load_script("benchmarks/footage_bench.py")
    out = tmp_path / "f.json"
    args = ["--video", str(real_video), "--height", "144", "--width", "256", "--heads", "30", "--rounds", "2"]
    args += ["--count-frames", "4", "--bank-frames", "2", "--parts", "fakes", "count", "bank", "--out", str(out)]
    result = bench.main(args)
    assert result["fakes"]["same_fakes"] and result["fakes"]["heads"] > 10
    assert len(result["fakes"]["old"]) == len(result["fakes"]["new"]) == 2
    assert result["count"]["same_tracks"] and result["count"]["heads"] > 10
    assert result["bank"]["read"] == result["bank"]["objects"] > 10
    assert out.exists() and '"same_fakes": true' in out.read_text()
