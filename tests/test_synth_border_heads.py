"""Heads cut by the edge of the frame they were painted in have a straight cut side, not their outline: pasted
mid-frame they teach the model heads with straight sides. Synthesis leaves them out (with the fakes made from them)
while enough whole heads remain (SynthConfig.border_heads)."""

import numpy as np
import pytest

from dvos_core.extract import extract_heads
from dvos_core.store import Project
from dvos_core.synth import SynthConfig
from dvos_core.synth.bank import edge_cut_note, synthesis_objects


def _project(tmp_path, whole: int, cut: int = 3) -> Project:
    """``whole`` 6x6 heads inside one frame and ``cut`` heads at its top edge (each 6 px wide, 4 px tall)."""
    p = Project.create(tmp_path / "p.dvos")
    rng = np.random.default_rng(0)
    m = np.zeros((64, 96), np.uint8)
    for i in range(whole):
        y, x = 12 + 12 * (i // 7), 4 + 13 * (i % 7)
        m[y : y + 6, x : x + 6] = 1
    for i in range(cut):
        m[0:4, 8 + 20 * i : 14 + 20 * i] = 1  # painted up to the frame's edge
    v = p.add_video_array("plot", rng.integers(60, 200, (2, 64, 96, 3), dtype=np.uint8), split="train")
    v.set_mask(0, m, "manual")
    extract_heads(p, min_area=5, fakes_per_head=2, halo_px=0)
    return p


def _cut_sides(crops) -> int:
    """Crops whose object is 4 px tall (the cut heads and their fakes' silhouettes)."""
    return sum(int(np.any(c[..., 3] >= 128, axis=1).sum()) == 4 for c in crops)


def test_heads_cut_by_the_frame_edge_and_their_fakes_are_left_out_while_whole_heads_remain(tmp_path):
    p = _project(tmp_path, whole=12)
    records = p.objects.table()
    fakes = records[records.kind == "fake"]
    cut_ids = set(records[(records.kind == "head") & records.touches_border.astype(bool)]["id"])
    assert len(cut_ids) == 3
    assert (fakes.touches_border.astype(bool) == fakes.source.isin(cut_ids)).all()  # a fake has its head's cut
    heads, fk = synthesis_objects(p)  # default 'auto': 12 whole heads remain
    assert len(heads) == 12 and _cut_sides(heads) == 0
    assert len(fk) == int((~fakes.source.isin(cut_ids)).sum()) and _cut_sides(fk) == 0
    assert "3 of 15 heads cut by the edge" in edge_cut_note(p, "auto")
    heads, fk = synthesis_objects(p, "use")
    assert len(heads) == 15 and _cut_sides(heads) == 3 and len(fk) == len(fakes)
    assert edge_cut_note(p, "use") is None


def test_with_few_whole_heads_auto_pastes_cut_ones_and_warns(tmp_path):
    p = _project(tmp_path, whole=4)
    with pytest.warns(UserWarning, match=r"3 of the object bank's 7 heads are cut by the edge .* only 4 whole"):
        assert edge_cut_note(p, "auto") is None
    assert len(synthesis_objects(p)[0]) == 7
    assert len(synthesis_objects(p, "skip")[0]) == 4


def test_skip_with_no_whole_head_is_refused_clearly(tmp_path):
    from dvos_core.synth import preview

    p = _project(tmp_path, whole=0)
    with pytest.raises(ValueError, match="every head of the object bank is cut by the edge.*border_heads: auto"):
        edge_cut_note(p, "skip")
    with pytest.raises(ValueError, match="every head of the object bank is cut by the edge"):
        preview(p, SynthConfig(border_heads="skip"), n_frames=2, size=32)


def test_border_heads_is_checked():
    with pytest.raises(ValueError, match="border_heads must be one of auto, skip, use, got 'no'"):
        SynthConfig(border_heads="no")


def test_generate_says_what_it_left_out_and_a_set_started_before_keeps_pasting_them(tmp_path):
    from dvos_core.synth import generate
    from dvos_core.synth.generate import _Context

    p = _project(tmp_path, whole=12)
    bg = p.create_background("field", 64, 64)
    bg.append_frames(np.full((4, 64, 64, 3), 90, np.uint8))
    said = []
    cfg = SynthConfig(n_frames=2, height=48, width=48, n_heads=(1, 2), n_fakes=(0, 1))
    generate(p, "syn", 1, cfg, backend="serial", progress=lambda d, t, m="": said.append(m))
    assert any("3 of 15 heads cut by the edge" in m and "left out" in m for m in said), said
    assert len(_Context(str(p.path), "syn").heads) == 12
    legacy = p.synthetic("syn")
    config = dict(legacy.attrs["config"])
    del config["border_heads"]  # as written by a dvos without the setting: it pasted every head
    legacy.group.attrs["config"] = config
    assert len(_Context(str(p.path), "syn").heads) == 15
    for asked in ("auto", "use"):  # resumed whatever it is asked, and said as it is made: every head pasted
        said.clear()
        generate(
            p, "syn", 1, cfg.replace(border_heads=asked), backend="serial", progress=lambda d, t, m="": said.append(m)
        )
        assert not any("left out" in m for m in said), said


def test_density_matching_that_leaves_every_head_out_says_why(tmp_path):
    from dvos_core.synth.density import match_density

    p = _project(tmp_path, whole=0)
    with pytest.raises(ValueError, match="every head of the object bank is cut by the edge"):
        match_density(p, base=SynthConfig(border_heads="skip", height=48, width=48))


def test_a_camera_that_runs_past_the_background_clips_is_warned_about(tmp_path):
    """A camera path longer than the background clip showed the field beyond its edge mirrored, silently (clips
    inpainted from painted frames are only frame-sized, and matched pans run off them)."""
    import warnings

    from dvos_core.synth import generate
    from dvos_core.synth.clip import mirrored_share

    fast = SynthConfig(n_frames=30, height=48, width=48, camera_speed=3.0, camera_speed_min=2.5, n_heads=(1, 2))
    assert 0.2 < mirrored_share(fast, (64, 64)) < 0.9 and mirrored_share(fast, (400, 400)) == 0
    assert mirrored_share(SynthConfig(n_frames=8, height=160, width=160), (160, 160)) < 0.1  # the demo's: slivers
    p = _project(tmp_path, whole=12)
    bg = p.create_background("field", 64, 64)
    bg.append_frames(np.full((4, 64, 64, 3), 90, np.uint8))
    with pytest.warns(
        UserWarning,
        match=r"camera's path over 30 frames .* runs past the edge of the background.* "
        r"about \d+ % of the synthetic frames' area shows the field beyond it mirrored",
    ):
        generate(p, "run_off", 1, fast, backend="serial")
    still = fast.replace(camera_speed=0.0, camera_speed_min=0.0, camera_shake_px=0.0, camera_zoom=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        generate(p, "still", 1, still.replace(camera_rotation_deg=0.0), backend="serial")
