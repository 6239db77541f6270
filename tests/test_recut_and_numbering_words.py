"""run-all's log line of the heads it cut names the frames repainted since a run cut them (cut again); the Project
step's warning on an image folder numbered otherwise than the stored frames names the Annotate step's option."""

from napari_helpers import tiny_clip


def test_run_alls_heads_line_names_the_repainted_frames_cut_again(tmp_project, monkeypatch):
    import dvos_core.extract.annotated_backgrounds as annotated
    from dvos_core.run_all import RunAllConfig, Stages, _extract

    monkeypatch.setattr(annotated, "backgrounds_from_annotated", lambda *a, **k: [])  # the heads are what is said
    frames, gt = tiny_clip(8, seed=4)
    v = tmp_project.add_video_array("plot", frames, split="train")
    for t in (1, 4, 7):
        v.set_mask(t, gt[t], "manual")
    cfg = RunAllConfig(synth_clips=3, synth_frames=6, device="cpu")
    lines = []
    _extract(tmp_project, cfg, Stages(1, None, None, lines.append), {"painted": ["plot"]})
    assert not any("repainted" in ln for ln in lines), lines
    v.set_mask(4, gt[1], "manual")  # repainted (frame 1's heads)
    lines.clear()
    _extract(tmp_project, cfg, Stages(1, None, None, lines.append), {"painted": ["plot"]})
    heads = next(ln for ln in lines if "cut now" in ln)
    assert "(from 1 frame(s), 1 of them repainted since they were cut before: cut again from their new masks)" in heads


def test_the_numbering_warning_of_an_image_folder_names_the_annotate_steps_option():
    from dvos_napari._errors import plain_words

    warning = (
        "/d/imgs: the image files are numbered 1..9, but dvos numbers the stored frames 0..4 in name order (stored "
        "frame 0 is a.png, frame 4 is b.png). Masks are matched to frames by those stored numbers; masks named "
        "after these files go in with `dvos import-masks ... --numbering source`"
    )
    text = plain_words(warning)
    assert "Import masks... in the Annotate step" in text
    assert "'numbers in file names' set to 'frame files' (Mask file options)" in text
    assert "dvos import-masks" not in text and "--" not in text and "terminal" not in text
