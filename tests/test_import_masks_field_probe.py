"""Mask imports as a field user met them: empty mask files are left out unless asked for (a file or page for every
frame - a whole labels layer saved, an annotation tool's export - holds blank ones where nobody painted, and an empty
mask says "no heads here": manual truth for training, and a background clip inpainted from it); masks cut at an odd
size for an mp4 that stored an even one say why they do not fit."""

import cv2
import numpy as np
import pytest
import tifffile

from dvos_core.cli import main
from dvos_core.io import export_masks, import_masks


@pytest.fixture
def video(tmp_project):
    rng = np.random.default_rng(0)
    return tmp_project.add_video_array("plot", rng.integers(0, 256, (6, 24, 32, 3), dtype=np.uint8), split="train")


def _stack(painted=(0, 4), n=6):
    masks = np.zeros((n, 24, 32), np.uint8)
    for t in painted:
        masks[t, 5 + t : 12 + t, 8:16] = 255
    return masks


def test_blank_pages_of_a_mask_stack_are_left_out_with_a_warning(tmp_project, video, tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", _stack())
    with pytest.warns(UserWarning) as said:
        assert import_masks(tmp_project, "plot", tmp_path / "stack.tif") == [0, 4]
    assert [str(w.message) for w in said if "left out 4 of the 6 masks" in str(w.message)], [w.message for w in said]
    assert "stack.tif page 1" in str(said[0].message) and "--empty-images" in str(said[0].message)
    assert not [w for w in said if "kept" in str(w.message)]  # the blank ones are not frames "kept" from before
    assert video.provenance_counts().get("manual") == 2
    assert video.mask(1) is None and video.mask(0).any()


def test_empty_images_stores_blank_masks_as_frames_without_heads(tmp_project, video, tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", _stack())
    assert import_masks(tmp_project, "plot", tmp_path / "stack.tif", empty_images=True) == list(range(6))
    assert video.mask(1) is not None and not video.mask(1).any()  # a frame someone found without heads


def test_a_folder_of_only_blank_masks_is_refused_naming_the_fix(tmp_project, video, tmp_path):
    (tmp_path / "m").mkdir()
    for t in (0, 1):
        cv2.imwrite(str(tmp_path / "m" / f"plot_{t:06d}.png"), np.zeros((24, 32), np.uint8))
    with pytest.raises(ValueError, match=r"all 2 of its masks are empty .*give --empty-images"):
        import_masks(tmp_project, "plot", tmp_path / "m")
    assert video.provenance_counts().get("manual", 0) == 0
    assert main(["import-masks", str(tmp_project.path), "plot", str(tmp_path / "m"), "--empty-images"]) == 0
    assert video.provenance_counts().get("manual") == 2


def test_an_exported_empty_mask_comes_back(tmp_project, video, tmp_path):
    """An export lists every mask it wrote (masks.csv): a frame painted as having no heads is one of them."""
    masks = _stack(painted=(2,))
    video.set_mask(2, masks[2], "manual")
    video.set_mask(3, masks[3], "manual")  # empty: looked at, no heads
    export_masks(tmp_project, "plot", tmp_path / "out")
    other = tmp_project.add_video_array("copy", video.read_frames())
    assert import_masks(tmp_project, "copy", tmp_path / "out", from_video="plot") == [2, 3]
    assert other.mask(3) is not None and not other.mask(3).any()


@pytest.mark.parametrize("source, said", [("/fields/plot.mp4", True), ("/fields/plot_frames", False)])
def test_masks_cut_at_an_odd_size_name_the_encoders_even_size(tmp_project, tmp_path, source, said):
    """An mp4 of 65x47 footage stores 64x46 frames: masks cut from the footage are a pixel too large either way."""
    tmp_project.add_video_array("odd", np.zeros((2, 46, 64, 3), np.uint8), source=source)
    mask = np.zeros((47, 65), np.uint8)
    mask[10:20, 10:20] = 255
    cv2.imwrite(str(tmp_path / "odd_000000.png"), mask)
    with pytest.raises(ValueError, match=r"odd_000000.png has shape \(47, 65\)") as e:
        import_masks(tmp_project, "odd", tmp_path / "odd_000000.png")
    assert ("cut the masks' last row and column (mask[:46, :64])" in str(e.value)) is said, str(e.value)


@pytest.mark.parametrize("fmt", ["png", "coco"])
def test_a_head_moved_in_another_program_comes_back_as_a_correction(tmp_project, video, tmp_path, fmt):
    """The same head pixel count after the edit read as 'unchanged': the fix stayed a pseudo-label (or was kept out
    as a prediction), and pseudo-labelling again replaced it."""
    masks = _stack(painted=(0, 4))
    for t in (0, 4):
        video.set_mask(t, masks[t], "pseudo")
    export_masks(tmp_project, "plot", tmp_path / "out", fmt=fmt)
    fixed = np.roll(masks[4], 3, axis=1)  # the head moved 3 px: as many head pixels
    assert np.count_nonzero(fixed) == np.count_nonzero(masks[4])
    if fmt == "png":
        cv2.imwrite(str(tmp_path / "out" / "plot_000004.png"), fixed)
        source = tmp_path / "out"
    else:
        import json

        from dvos_core.io.coco import head_annotations

        doc = json.loads((tmp_path / "out" / "plot_coco.json").read_text())
        image = next(i for i in doc["images"] if i["dvos"]["frame"] == 4)
        doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != image["id"]]
        for k, ann in enumerate(head_annotations(fixed > 0)):
            doc["annotations"].append({"id": 1000 + k, "image_id": image["id"], "category_id": 1, **ann})
        source = tmp_path / "out" / "plot_coco.json"
        source.write_text(json.dumps(doc))
    other = tmp_project.add_video_array("copy", video.read_frames(), split="train")
    assert import_masks(tmp_project, "copy", source, from_video="plot") == [0, 4]
    counts = other.provenance_counts()
    assert (counts["pseudo"], counts["corrected"], counts["manual"]) == (1, 1, 0)
    assert np.array_equal(other.mask(4) > 0, fixed > 0)


def test_predictions_brought_back_over_pseudo_labels_say_why_they_were_kept(tmp_project, video, tmp_path):
    """Exported predictions, one fixed, imported back: the fix is a correction, and the untouched ones leave the
    pseudo-labels as they are - said as such, not as 'masks painted by a person' with advice to --overwrite (which
    made every pseudo-label a prediction, leaving training one sample)."""
    masks = _stack(painted=(0, 2, 4))
    for t in (0, 2, 4):
        video.set_mask(t, masks[t], "pseudo")
    preds = video.predictions["image"]
    preds.start({"kind": "frame", "threshold": 0.5}, "ck1")
    preds.set_many([0, 2, 4], masks[[0, 2, 4]].astype(np.float32) / 255)
    export_masks(tmp_project, "plot", tmp_path / "out", which="predictions", model="image")
    fixed = masks[2].copy()
    fixed[0:3, 0:3] = 255  # a missed head added
    cv2.imwrite(str(tmp_path / "out" / "plot_000002.png"), fixed)
    with pytest.warns(
        UserWarning, match=r"2 frame\(s\) kept their pseudo masks \(frames 0, 4\): an imported predicted"
    ):
        assert import_masks(tmp_project, "plot", tmp_path / "out") == [2]
    counts = video.provenance_counts()
    assert (counts["pseudo"], counts["corrected"], counts["predicted"]) == (2, 1, 0)


def test_exporting_a_retrained_models_old_predictions_warns(tmp_project, video, tmp_path):
    """evaluate warned that a model trained again under its name had not predicted since; export-masks, count-heads
    and the overlay video read the old masks without a word."""
    import torch

    from dvos_core.infer import predict_video
    from dvos_core.model import build_model, save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_project.model_dir("image", create=True) / "best.pt", build_model("tiny", "frame"))
    predict_video(tmp_project, "plot", ckpt, device="cpu")
    export_masks(tmp_project, "plot", tmp_path / "a", which="predictions", model="image")  # in step: no warning
    torch.manual_seed(1)
    save_checkpoint(ckpt, build_model("tiny", "frame"))  # trained again, not predicted again
    with pytest.warns(UserWarning, match=r"of 'image' in \w+ were made by an earlier version .*dvos predict"):
        export_masks(tmp_project, "plot", tmp_path / "b", which="predictions", model="image")
