"""Synthesis density matched to the painted frames (dvos_core.synth.density, `dvos synth --match-density`)."""

import cv2
import numpy as np
import pytest

from dvos_core.synth import SynthConfig
from dvos_core.synth.density import match_density, painted_density, synthetic_coverage
from dvos_core.synth.toy import toy_objects

BASE = SynthConfig(n_frames=4, height=128, width=128, n_heads=(8, 30), n_fakes=(4, 15))


def discs(n: int, radius: int, seed: int, size: int = 128) -> np.ndarray:
    """A (size, size) uint8 mask of n discs at separate random places."""
    rng = np.random.default_rng(seed)
    m = np.zeros((size, size), np.uint8)
    for _ in range(n):
        x, y = rng.integers(radius, size - radius, 2)
        cv2.circle(m, (int(x), int(y)), radius, 1, -1)
    return m


def painted_project(tmp_project, masks, split="train", name="plot"):
    """``tmp_project`` with a video whose frames 0..len(masks)-1 are painted with ``masks`` and toy heads/fakes."""
    frames = np.full((len(masks) + 2, 128, 128, 3), 90, np.uint8)
    v = tmp_project.add_video_array(name, frames, split=split)
    for t, m in enumerate(masks):
        v.set_mask(t, m, "manual")
    if not tmp_project.objects.count("head"):
        heads, fakes = toy_objects(np.random.default_rng(0), 8, 8)
        tmp_project.objects.add(
            [(h, {"kind": "head", "source": "toy"}) for h in heads]
            + [(f, {"kind": "fake", "source": "toy"}) for f in fakes]
        )
    return tmp_project


def test_painted_density_measures_cover_and_heads(tmp_project):
    a, b = discs(3, 8, 0), discs(6, 8, 1)
    p = painted_project(tmp_project, [a, b, np.zeros_like(a)])
    d = painted_density(p.video("plot"))
    assert d["frames"] == 3 and d["empty_frames"] == 1  # an empty painted frame is counted, not measured
    assert d["coverage"]["min"] == pytest.approx(a.mean()) and d["coverage"]["max"] == pytest.approx(b.mean())
    assert d["objects"]["min"] == cv2.connectedComponents(a)[0] - 1 and d["objects"]["max"] >= 4


def test_match_density_follows_the_painted_cover(tmp_project, tmp_path):
    """Matching both ways (``allow_sparser``): sparse painted frames give fewer heads per synthetic frame than
    crowded ones, and the clips of the matched settings cover about as much of the frame as the painted frames."""
    from dvos_core.store import Project

    sparse = painted_project(tmp_project, [discs(3, 14, 0), discs(4, 14, 1)])
    crowded = painted_project(Project.create(tmp_path / "b.dvos"), [discs(14, 12, 2), discs(16, 12, 3)])
    results = {}
    for name, p in (("sparse", sparse), ("crowded", crowded)):
        m = match_density(p, base=BASE, allow_sparser=True)
        target = painted_density(p.video("plot"))["coverage"]
        heads = [r for r, _ in p.objects.load("head")]
        fakes = [r for r, _ in p.objects.load("fake")]
        low = m.config.replace(n_heads=(m.config.n_heads[0],) * 2, n_fakes=(m.config.n_fakes[0],) * 2)
        high = m.config.replace(n_heads=(m.config.n_heads[1],) * 2, n_fakes=(m.config.n_fakes[1],) * 2)
        got = synthetic_coverage(heads, fakes, low, seed=5), synthetic_coverage(heads, fakes, high, seed=5)
        assert 0.6 * target["min"] < got[0] <= got[1] < 1.5 * target["max"], (name, got, target)
        assert set(m.overrides) == {"n_heads", "n_fakes"} and "painted frames" in m.table()
        # fakes keep their share of the heads
        assert m.config.n_fakes[1] == pytest.approx(
            m.config.n_heads[1] * np.mean(BASE.n_fakes) / np.mean(BASE.n_heads), abs=1
        )
        results[name] = m.config.n_heads
    assert results["sparse"][1] < results["crowded"][0]


def test_by_default_density_is_only_raised(tmp_project, tmp_path):
    """Without ``allow_sparser`` settings more crowded than the footage are kept (with a warning saying so), and
    sparser ones are raised."""
    from dvos_core.store import Project

    sparse = painted_project(tmp_project, [discs(3, 14, 0), discs(4, 14, 1)])
    m = match_density(sparse, base=BASE)
    assert m.config.n_heads == BASE.n_heads and m.config.n_fakes == BASE.n_fakes and m.overrides == {}
    assert "sparser" in m.warnings[0]
    assert match_density(sparse, base=BASE, allow_sparser=True).config.n_heads[1] < BASE.n_heads[0]
    crowded = painted_project(Project.create(tmp_path / "b.dvos"), [discs(14, 12, 2), discs(16, 12, 3)])
    low = BASE.replace(n_heads=(1, 2), n_fakes=(0, 1))
    m = match_density(crowded, base=low)
    assert m.config.n_heads[0] > 2 and m.warnings == []


def test_a_range_raised_at_one_end_keeps_the_other_and_its_fakes(tmp_project):
    """Painted frames between the ends of the settings' range: the low end was raised, the high end kept - and the
    warning called the painted frames sparser than the settings, while the fakes' high end fell below the setting
    (rebuilt from the heads-to-fakes ratio)."""
    painted = painted_project(tmp_project, [discs(6, 14, 0), discs(7, 14, 1)])
    wide = BASE.replace(n_heads=(1, 60), n_fakes=(0, 40))
    m = match_density(painted, base=wide)
    assert m.config.n_heads[0] > 1 and m.config.n_heads[1] == 60  # the low end raised, the high end kept
    assert m.config.n_fakes[1] >= 40
    assert len(m.warnings) == 1 and "at the high end; kept the settings' high end 60" in m.warnings[0], m.warnings


def test_match_density_needs_painted_frames_and_heads(tmp_project):
    frames = np.full((3, 64, 64, 3), 90, np.uint8)
    tmp_project.add_video_array("bare", frames, split="train")
    with pytest.raises(ValueError, match="paint the heads"):
        match_density(tmp_project, ["bare"], BASE)
    tmp_project.video("bare").set_mask(0, discs(2, 6, 0, size=64), "manual")
    with pytest.raises(ValueError, match="extract them first"):
        match_density(tmp_project, ["bare"], BASE)


def test_test_videos_do_not_set_the_density(tmp_project):
    p = painted_project(tmp_project, [discs(2, 10, 0)], name="plot")
    painted_project(p, [discs(18, 12, 1)], split="test", name="held_out")
    assert match_density(p, base=BASE).measured["frames"] == 1
    assert match_density(str(p.path), base=BASE).measured["frames"] == 1  # a project's path works too


def test_cli_match_density_writes_the_matched_settings(tmp_project, tmp_path, capsys):
    from dvos_core.cli import main

    painted_project(tmp_project, [discs(2, 10, 0), discs(3, 10, 1)])
    out = tmp_path / "synth.yaml"
    argv = ["synth", str(tmp_project.path), "--size", "128", "--match-density", "--allow-sparser"]
    assert main([*argv, "--write-config", str(out)]) == 0
    cfg = SynthConfig.from_yaml(out)
    assert cfg.n_heads != SynthConfig().n_heads and cfg.n_heads[1] < 10 and cfg.height == 128
    assert main(["synth", str(tmp_project.path), "--allow-sparser", "--preview", str(tmp_path / "p.png")]) != 0
    assert "only changes --match-density" in capsys.readouterr().err and not (tmp_path / "p.png").exists()
