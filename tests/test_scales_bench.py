"""The scales benchmark times each choice on real footage and records the scales it ran at."""

from script_modules import load_script


def test_each_choice_is_timed_at_its_scales(real_video, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DVOS_TESTDATA", str(real_video.parent))
    bench = load_script("benchmarks/scales_bench.py")
    out = tmp_path / "s.json"
    result = bench.main(["--kinds", "frame", "--frames", "2", "--height", "256", "--width", "320", "--out", str(out)])
    case = result["cases"][0]
    assert case["zooms"] == {"own": [1.0], "auto": [1.0, 0.5], "trained": [0.5]}  # 128 / 256 px
    assert set(case["s_per_frame"]) == {"own", "auto", "trained"} and min(case["s_per_frame"].values()) > 0
    assert out.exists() and '"own_over_trained"' in out.read_text()
