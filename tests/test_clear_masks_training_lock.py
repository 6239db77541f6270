"""`dvos clear-masks` (Video.clear_masks) under a running training: refused, naming the run and the fix. The run's
sample list and provenances are fixed at its start, so it went on learning and validating on the cleared frames,
which then held empty masks. Saving and clearing single frames (napari's painting) keeps working."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.store import Project
from dvos_core.store.lock import StoreBusyError
from dvos_core.train.loop import training_lock


def _project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("seed", np.zeros((3, 8, 8, 3), np.uint8))
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 1
    v.set_mask(0, mask, "manual")
    v.set_mask(1, mask, "manual")
    p.model_dir("m", create=True)
    return p


def test_clear_masks_while_a_model_trains_is_refused(tmp_path, capsys):
    p = _project(tmp_path)
    with training_lock(p, "m"):
        assert main(["clear-masks", str(p.path), "seed", "--provenance", "manual", "--yes"]) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "the masks of video 'seed'" in err
        assert "stop that training first" in err
        assert (p.video("seed").provenance != 0).sum() == 2
        with pytest.raises(StoreBusyError, match="being trained"):
            p.video("seed").clear_masks()
        # single frames: painting a new or corrected mask and clearing one frame still work
        p.video("seed").set_mask(2, np.ones((8, 8), np.uint8), "manual")
        p.video("seed").clear_mask(2)
        assert (p.video("seed").provenance != 0).sum() == 2
    assert main(["clear-masks", str(p.path), "seed", "--provenance", "manual", "--yes"]) == 0  # once it stopped
    assert (p.video("seed").provenance != 0).sum() == 0


def test_clearing_nothing_is_not_refused(tmp_path):
    """Nothing of those provenances to clear: nothing a training run reads changes."""
    p = _project(tmp_path)
    with training_lock(p, "m"):
        assert p.video("seed").clear_masks(["pseudo"]) == 0


def test_a_test_videos_masks_clear_under_a_training(tmp_path):
    """No training reads a test video (its masks are the ground truth evaluation reads): the refusal named it."""
    p = _project(tmp_path)
    p.set_split(["seed"], "test")
    with training_lock(p, "m"):
        p.video("seed").clear_masks()
    assert (p.video("seed").provenance != 0).sum() == 0


def test_masks_imported_over_others_under_a_training_are_refused(tmp_path, capsys):
    """`dvos import-masks --overwrite` replaced every mask a running training reads (`--empty-images` with empties)
    where clear-masks is refused; new frames' masks still import."""
    import cv2

    p = _project(tmp_path)
    folder = tmp_path / "masks"
    folder.mkdir()
    for t in (0, 2):
        cv2.imwrite(str(folder / f"seed_{t:06d}.png"), np.full((8, 8), 255, np.uint8))
    cmd = ["import-masks", str(p.path), "seed", str(folder), "--overwrite"]
    with training_lock(p, "m"):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert "model 'm' is being trained by" in err and "then import them with --overwrite" in err
        assert (p.video("seed").mask(0) > 0).sum() == 9  # unchanged
        (folder / "seed_000000.png").unlink()
        assert main(cmd) == 0  # frame 2 had no mask: importing it is painting a new frame
    cv2.imwrite(str(folder / "seed_000000.png"), np.full((8, 8), 255, np.uint8))
    assert main(cmd) == 0  # once it stopped
    assert (p.video("seed").mask(0) > 0).all()


def test_relabelling_or_dropping_pseudo_labels_under_a_training_is_refused(tmp_path):
    """`dvos pseudo-label --overwrite` (and `--drop-below`) replaced or cleared the masks a running training reads,
    where clear-masks is refused; a plain labelling of frames without masks still runs."""
    from stub_models import BrightIsHead

    from dvos_core.infer import pseudo_label

    p = _project(tmp_path)
    v = p.video("seed")
    v.set_mask(2, np.ones((8, 8), np.uint8), "pseudo", quality=1.0)
    with training_lock(p, "m"):
        for kw in ({"overwrite": True}, {"drop_below": True, "quality_threshold": 0.9}):
            with pytest.raises(StoreBusyError, match=r"being trained .*the masks of video 'seed'.* pseudo-labels"):
                pseudo_label(p, "seed", (BrightIsHead(), {}), device="cpu", n_passes=1, **kw)
        assert (p.video("seed").mask(2) > 0).all()
        p.video("seed").clear_mask(2)
        rows = pseudo_label(p, "seed", (BrightIsHead(), {}), device="cpu", n_passes=1)  # new masks only
        assert rows["status"].tolist() == ["protected", "protected", "written"]
    assert pseudo_label(p, "seed", (BrightIsHead(), {}), device="cpu", n_passes=1, overwrite=True) is not None
