"""COCO instance annotations ("COCO 1.0" JSON of CVAT, Label Studio, Roboflow, makesense) as masks: polygons, RLE
(compressed and not), categories, file-name mapping, images without annotations (left out unless asked for or
exported by dvos), errors, and export-masks --format coco.

The RLE references here are written straight from the COCO format's description (column-major runs starting with
background; compressed counts as 5-bit groups, '0' + group, 0x20 = more follows, 0x10 of the last group = negative,
from the fourth count on the difference from the count two before), independently of dvos_core.io.coco."""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.io import export_masks, import_masks, import_video
from dvos_core.io.coco import decode_rle, fill_polygons, rle_counts

T, H, W = 6, 20, 30


# ---- test-local references ---------------------------------------------------------------------------------------
def ref_runs(mask) -> list[int]:
    """COCO run lengths: down the columns, the first run counting background pixels (0 when the first is a head)."""
    runs, current, n = [], 0, 0
    for value in np.asarray(mask).flatten(order="F"):
        if int(value > 0) != current:
            runs.append(n)
            current, n = 1 - current, 0
        n += 1
    runs.append(n)
    return runs


def ref_string(runs: list[int]) -> str:
    text = ""
    for i, count in enumerate(runs):
        x = count - runs[i - 2] if i > 2 else count
        while True:
            group = x & 31
            x >>= 5  # arithmetic shift: a negative number ends at -1
            more = x != -1 if group & 16 else x != 0
            text += chr(48 + group + (32 if more else 0))
            if not more:
                break
    return text


def centre_inside(h, w, inside) -> np.ndarray:
    """Pixels whose centres (x + 0.5, y + 0.5) satisfy ``inside(x, y)``."""
    y, x = np.mgrid[0:h, 0:w] + 0.5
    return inside(x, y).astype(np.uint8)


def box(y0, y1, x0, x1, h=H, w=W) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def coco(images, annotations, categories=({"id": 1, "name": "head"},)) -> dict:
    return {"images": list(images), "annotations": list(annotations), "categories": list(categories)}


def image(i, name, w=W, h=H) -> dict:
    return {"id": i, "file_name": name, "width": w, "height": h}


def ann(i, image_id, seg, category=1, crowd=0) -> dict:
    return {"id": i, "image_id": image_id, "category_id": category, "segmentation": seg, "iscrowd": crowd}


def write(path, doc):
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def video(tmp_project):
    return tmp_project.add_video_array("v", np.zeros((T, H, W, 3), np.uint8))


# ---- polygons ----------------------------------------------------------------------------------------------------
def test_polygon_coordinates_are_pixel_edges_sampled_at_pixel_centres():
    unit = fill_polygons([[0, 0, 1, 0, 1, 1, 0, 1]], 4, 4)
    assert unit.sum() == 1 and unit[0, 0] == 1  # cv2.fillPoly given the corners fills 2x2 pixels here
    assert np.array_equal(fill_polygons([[3, 2, 13, 2, 13, 9, 3, 9]], H, W), box(2, 9, 3, 13))  # 10 x 7 = 70 px
    assert fill_polygons([[3, 2, 13, 2, 13, 9, 3, 9]], H, W).sum() == 70
    # a right triangle (area 12.5): the pixels whose centres lie strictly inside x + y < 5
    tri = fill_polygons([[0, 0, 5, 0, 0, 5]], 8, 8)
    assert np.array_equal(tri, centre_inside(8, 8, lambda x, y: x + y < 5)) and tri.sum() == 10
    # a circle of radius 12 drawn as a 720-gon: the pixels whose centres lie inside it
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    circle = np.stack([20.3 + 12 * np.cos(th), 15.7 + 12 * np.sin(th)], 1).ravel().tolist()
    got = fill_polygons([circle], 32, 40)
    want = centre_inside(32, 40, lambda x, y: (x - 20.3) ** 2 + (y - 15.7) ** 2 < 144)
    assert np.array_equal(got, want) and abs(int(got.sum()) - np.pi * 144) < 12
    # two parts of one annotation, overlapping: their union; a polygon past the image edge is cut there
    two = fill_polygons([[0, 0, 4, 0, 4, 4, 0, 4], [2, 2, 6, 2, 6, 6, 2, 6]], 8, 8)
    assert two.sum() == 16 + 16 - 4
    assert np.array_equal(fill_polygons([[-5, -5, 3, -5, 3, 2, -5, 2]], 8, 8), box(0, 2, 0, 3, 8, 8))


def test_polygons_imported_onto_their_frames(tmp_project, video, tmp_path):
    doc = coco(
        [image(1, "frame_000001.png"), image(2, "frame_000004.png")],
        [
            ann(1, 1, [[3, 2, 13, 2, 13, 9, 3, 9]]),
            ann(2, 1, [20, 10, 25, 10, 25, 15, 20, 15]),  # a polygon written flat (no outer list)
            ann(3, 2, [[0, 0, 30, 0, 30, 1, 0, 1]]),
        ],
    )
    assert import_masks(tmp_project, "v", write(tmp_path / "a.json", doc)) == [1, 4]
    assert np.array_equal(video.mask(1), box(2, 9, 3, 13) | box(10, 15, 20, 25))
    assert np.array_equal(video.mask(4), box(0, 1, 0, 30))
    assert video.provenance_counts()["manual"] == 2 and video.mask(0) is None


# ---- RLE ---------------------------------------------------------------------------------------------------------
def _shapes():
    rng = np.random.default_rng(5)
    yield box(0, 1, 0, 1)  # the first pixel a head: the runs start with 0 background pixels
    yield box(H - 1, H, W - 1, W)
    yield np.zeros((H, W), np.uint8)
    yield np.ones((H, W), np.uint8)
    for _ in range(5):
        yield (rng.random((H, W)) < 0.3).astype(np.uint8)
    long = np.zeros((H, W), np.uint8)
    long[:, 3:27] = 1  # runs of hundreds of pixels: several 5-bit groups, large differences both ways
    long[5, 10] = 0
    yield long


def test_uncompressed_rle_against_a_reference_encoder():
    for mask in _shapes():
        assert np.array_equal(decode_rle(ref_runs(mask), H, W), mask)
    # rows and columns are not swapped: a mask wider than high, one column set
    col = np.zeros((2, 5), np.uint8)
    col[:, 1] = 1
    assert ref_runs(col) == [2, 2, 6] and np.array_equal(decode_rle([2, 2, 6], 2, 5), col)


def test_compressed_rle_against_a_reference_encoder_and_a_string_worked_by_hand():
    for mask in _shapes():
        assert np.array_equal(decode_rle(ref_string(ref_runs(mask)), H, W), mask)
    # worked by hand: "1" -> 1, "2" -> 2, "n0" -> 30 ('n' = 48 + 0x20 + 30, then '0'), "O" -> 2 + (31 - 32) = 1,
    # "TO" -> 30 + (4 + (31 - 32) * 32) = 30 - 28 = 2
    assert rle_counts("12n0OTO") == [1, 2, 30, 1, 2]
    want = np.zeros(36, np.uint8)
    want[1:3] = 1
    want[33:34] = 1
    assert np.array_equal(decode_rle("12n0OTO", 6, 6), want.reshape(6, 6, order="F"))


def test_rle_annotations_imported(tmp_project, video, tmp_path):
    a, b = box(2, 8, 3, 9), box(10, 18, 12, 20)
    b[13, 15] = 0  # a head with a hole, as only RLE keeps it
    doc = coco(
        [image(7, "frame_000002.png"), image(8, "frame_000003.png")],
        [
            ann(1, 7, {"counts": ref_runs(a), "size": [H, W]}, crowd=1),  # CVAT writes brush masks so
            ann(2, 8, {"counts": ref_string(ref_runs(b)), "size": [H, W]}),
        ],
    )
    assert import_masks(tmp_project, "v", write(tmp_path / "a.json", doc)) == [2, 3]
    assert np.array_equal(video.mask(2), a) and np.array_equal(video.mask(3), b)


# ---- frames, categories, empty images ----------------------------------------------------------------------------
def test_images_go_to_the_frame_numbered_last_in_their_file_name(tmp_project, video, tmp_path):
    doc = coco(
        [
            image(1, "images/task_7/frame_000005.jpg"),  # CVAT: folders in the name
            image(2, "/data/upload/3/8f2e41a0-frame_0002.png"),  # Label Studio: a hash before the name
            image(3, r"C:\frames\plot2_000000.PNG"),
        ],
        [ann(k, k, [[k, k, k + 4, k, k + 4, k + 4, k, k + 4]]) for k in (1, 2, 3)],
    )
    assert import_masks(tmp_project, "v", write(tmp_path / "a.json", doc)) == [0, 2, 5]
    assert video.mask(5)[1, 1] == 1 and video.mask(2)[2, 2] == 1 and video.mask(0)[3, 3] == 1
    # counted from 1 (frame_000001 is the first frame): --first-number 1, as for mask files
    doc["images"] = [image(1, "frame_000001.png"), image(2, "frame_000006.png"), image(3, "frame_000003.png")]
    path = write(tmp_path / "b.json", doc)
    with pytest.raises(ValueError, match=r"frame 6 is out of range.*counted from 1.*--first-number 1"):
        import_masks(tmp_project, "v", path, overwrite=True)
    assert import_masks(tmp_project, "v", path, first_number=1, overwrite=True) == [0, 2, 5]
    assert video.mask(0)[1, 1] == 1 and video.mask(5)[2, 2] == 1
    # or the frames given from Python, one per image in the file's order
    assert import_masks(tmp_project, "v", path, frames=[4, 1, 3], overwrite=True) == [1, 3, 4]
    assert video.mask(4)[1, 1] == 1 and video.mask(1)[2, 2] == 1
    doc["images"][0]["file_name"] = "first.png"
    with pytest.raises(ValueError, match=r"c\.json image first\.png: cannot tell which frame.*file_name"):
        import_masks(tmp_project, "v", write(tmp_path / "c.json", doc))


def test_a_video_added_from_frames_numbered_from_1_asks_which_numbering(tmp_project, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(1, 5):
        cv2.imwrite(str(frames / f"{n:06d}.png"), np.full((H, W, 3), 40 * n, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = import_video(tmp_project, frames, "plot")
    doc = coco([image(1, "000001.png"), image(2, "000003.png")], [ann(1, 1, [[0, 0, 2, 0, 2, 2, 0, 2]])])
    path = write(tmp_path / "a.json", doc)
    with pytest.raises(ValueError, match=r"000001\.png would go to stored frame 1.*--numbering source"):
        import_masks(tmp_project, "plot", path, empty_images=True)
    assert not video.provenance.any()
    assert import_masks(tmp_project, "plot", path, numbering="source", empty_images=True) == [0, 2]
    assert video.mask(0).sum() == 4 and video.mask(2).sum() == 0


def test_categories_the_only_one_besides_background_or_the_class_asked_for(tmp_project, video, tmp_path):
    cats = [{"id": 0, "name": "background"}, {"id": 3, "name": "head"}, {"id": 4, "name": "leaf"}]
    doc = coco(
        [image(1, "f_000001.png")],
        [ann(1, 1, [[0, 0, 4, 0, 4, 4, 0, 4]], category=3), ann(2, 1, [[10, 10, 20, 10, 20, 12, 10, 12]], category=4)],
        cats,
    )
    path = write(tmp_path / "a.json", doc)
    with pytest.raises(ValueError, match=r"a\.json: lists 2 categories besides the background \(background, head, "):
        import_masks(tmp_project, "v", path)
    with pytest.raises(ValueError, match=r"a\.json: no category 'heads'; its categories: background, head, leaf"):
        import_masks(tmp_project, "v", path, label_class="heads")
    assert video.mask(1) is None
    assert main(["import-masks", str(tmp_project.path), "v", str(path), "--class", "head"]) == 0
    assert np.array_equal(video.mask(1), box(0, 4, 0, 4))  # the leaf is not a head
    assert import_masks(tmp_project, "v", path, label_class="leaf", overwrite=True) == [1]
    assert np.array_equal(video.mask(1), box(10, 12, 10, 20))
    # one category besides the background: taken without asking; --labels (instances) changes nothing
    doc["categories"] = cats[:2]
    doc["annotations"] = doc["annotations"][:1]
    path = write(tmp_path / "b.json", doc)
    assert import_masks(tmp_project, "v", path, allow_labels=True, overwrite=True) == [1]
    assert np.array_equal(video.mask(1), box(0, 4, 0, 4))


def _listing_every_frame():
    """A CVAT-like export: every frame of a task listed, heads drawn on frame 0 only, a leaf (another category) on
    frame 2; frames 1, 3, 4 and 5 nobody annotated."""
    cats = [{"id": 1, "name": "head"}, {"id": 2, "name": "leaf"}]
    images = [image(k + 1, f"frame_{k:06d}.png") for k in range(T)]
    anns = [ann(1, 1, [[0, 0, 4, 0, 4, 4, 0, 4]]), ann(2, 3, [[10, 10, 20, 10, 20, 12, 10, 12]], category=2)]
    return coco(images, anns, cats)


def test_images_without_annotations_are_left_out_and_named(tmp_project, video, tmp_path, capsys):
    video.set_mask(3, box(0, 3, 0, 3), "pseudo")
    video.set_mask(5, box(0, 3, 0, 3), "manual")
    path = write(tmp_path / "a.json", _listing_every_frame())
    with pytest.warns(UserWarning) as said:
        assert import_masks(tmp_project, "v", path, label_class="head") == [0, 2]
    (note,) = [str(w.message) for w in said]  # said once
    assert str(path) in note and "left out 4 of its 6 images, which have no annotation" in note, note
    assert "(frame_000001.png, frame_000003.png, frame_000004.png, ...)" in note and "--empty-images" in note, note
    assert video.mask(0).sum() == 16 and video.mask(2).sum() == 0  # a leaf drawn there: looked at, no heads
    assert video.mask(1) is None and video.mask(4) is None  # nobody looked at them: no mask
    assert video.provenance_counts()["pseudo"] == 1 and video.mask(3).sum() == 9  # untouched
    assert np.array_equal(video.mask(5), box(0, 3, 0, 3))
    # the command line prints the note once, as a warning line
    assert main(["import-masks", str(tmp_project.path), "v", str(path), "--class", "head"]) == 0
    err = capsys.readouterr().err
    assert err.count("left out 4 of its 6 images") == 1 and "--empty-images" in err, err


def test_empty_images_are_stored_as_frames_without_heads_when_asked(tmp_project, video, tmp_path, capsys):
    video.set_mask(3, box(0, 3, 0, 3), "pseudo")
    video.set_mask(5, box(0, 3, 0, 3), "manual")
    path = write(tmp_path / "a.json", _listing_every_frame())
    with pytest.warns(UserWarning) as said:
        assert import_masks(tmp_project, "v", path, label_class="head", empty_images=True) == [0, 1, 2, 3, 4]
    assert [str(w.message).split(":")[1] for w in said] == [" 1 frame(s) kept the masks they had (frames 5)"]
    assert all(video.mask(t).sum() == 0 for t in (1, 2, 3, 4)) and video.mask(0).sum() == 16
    assert video.provenance_counts()["manual"] == 6 and video.mask(5).sum() == 9  # a person's mask kept
    video.clear_masks()
    assert main(["import-masks", str(tmp_project.path), "v", str(path), "--class", "head", "--empty-images"]) == 0
    assert "wrote 6 masks (6 manual)" in capsys.readouterr().out  # every listed frame
    assert np.flatnonzero(video.provenance[:]).tolist() == list(range(T)) and video.mask(5).sum() == 0


def test_a_file_whose_images_are_all_left_out_is_an_error(tmp_project, video, tmp_path, capsys):
    doc = coco([image(k, f"frame_{k:06d}.png") for k in range(1, 6)], [])
    path = write(tmp_path / "none.json", doc)
    with pytest.raises(ValueError, match=r"none\.json: none of its 5 images has an annotation \(frame_000001\.png, "):
        import_masks(tmp_project, "v", path)
    assert not video.provenance.any()
    assert main(["import-masks", str(tmp_project.path), "v", str(path)]) != 0
    err = capsys.readouterr().err
    assert "nothing to import" in err and "--empty-images" in err, err
    assert import_masks(tmp_project, "v", path, empty_images=True) == [1, 2, 3, 4, 5]
    assert all(video.mask(t).sum() == 0 for t in range(1, 6))


def test_a_persons_mask_is_kept_unless_overwrite(tmp_project, video, tmp_path):
    video.set_mask(1, box(0, 3, 0, 3), "corrected")
    path = write(tmp_path / "a.json", coco([image(1, "f_000001.png")], [ann(1, 1, [[0, 0, 4, 0, 4, 4, 0, 4]])]))
    with pytest.warns(UserWarning, match=r"1 frame\(s\) kept the masks they had \(frames 1\).*--overwrite"):
        assert import_masks(tmp_project, "v", path) == []
    assert import_masks(tmp_project, "v", path, overwrite=True) == [1]
    assert video.mask(1).sum() == 16


# ---- errors ------------------------------------------------------------------------------------------------------
def _refused(tmp_project, tmp_path, doc, pattern, **kw):
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(ValueError, match=pattern) as e:
        import_masks(tmp_project, "v", path, **kw)
    assert str(path) in str(e.value)
    assert not tmp_project.video("v").provenance.any()  # nothing written


def test_bad_files_are_errors_naming_the_file_and_the_fix(tmp_project, video, tmp_path):
    good = coco([image(1, "f_000001.png")], [ann(1, 1, [[0, 0, 4, 0, 4, 4, 0, 4]])])
    _refused(tmp_project, tmp_path, '{"images": [', r"not a JSON file \(.* line 1, column 13\)")
    _refused(tmp_project, tmp_path, "[1, 2]", r"holds a JSON list, not COCO annotations")
    for key in ("images", "annotations", "categories"):
        _refused(tmp_project, tmp_path, {k: v for k, v in good.items() if k != key}, rf"no '{key}' list")
    _refused(tmp_project, tmp_path, {**good, "images": [{"id": 1, "file_name": "f_1.png"}]}, r"has no width, height")
    for key in ("image_id", "category_id"):
        a = {k: v for k, v in good["annotations"][0].items() if k != key}
        _refused(tmp_project, tmp_path, {**good, "annotations": [a]}, rf"annotation 1 has no {key}")
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 9, [[0, 0, 1, 0, 1, 1]])]}, r"image 9, which")
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, [[0, 0, 1, 0, 1, 1]], 5)]}, r"category 5,")
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, [])]}, r"no segmentation \(a bounding box")
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, [[0, 0, 1, 0, 1]])]}, r"at least 3 points")
    rle = {"counts": [3, 4], "size": [H, W]}
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, rle)]}, r"add up to 7 pixels, not 20x30")
    rle = {"counts": [H * W], "size": [W, H]}
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, rle)]}, r"RLE size \[30, 20\] is not")
    rle = {"counts": "12n", "size": [H, W]}
    _refused(tmp_project, tmp_path, {**good, "annotations": [ann(1, 1, rle)]}, r"ends in the middle of a number")
    # an image of another size than the frames: the file, the image and the fix
    doc = {**good, "images": [image(1, "f_000001.png", w=60, h=40)]}
    _refused(tmp_project, tmp_path, doc, r"image 1 \(f_000001\.png\) is 60x40 pixels, but video 'v' stores 30x20.*")
    _refused(tmp_project, tmp_path, good, r"no category 'stem'; its categories: head", label_class="stem")
    with pytest.raises(FileNotFoundError, match=r"missing\.json: COCO annotation file not found"):
        import_masks(tmp_project, "v", tmp_path / "missing.json")


def test_every_door_says_what_to_do_for_a_resized_video(tmp_project, tmp_path, capsys):
    """import_masks itself says a video was resized when it was added (COCO file and mask files alike), so Python,
    the command line (once, not twice) and napari (tests/test_napari_mask_files.py) give one message."""
    from dvos_core.io import Preprocess

    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(3):
        cv2.imwrite(str(frames / f"{n:06d}.png"), np.full((40, 60, 3), 40 * n, np.uint8))
    import_video(tmp_project, frames, "small", preprocess=Preprocess(height=20))
    import_video(tmp_project, frames, "plain")
    path = write(tmp_path / "a.json", coco([image(1, "000001.png", w=60, h=40)], [ann(1, 1, [[0, 0, 4, 0, 4, 4]])]))
    pngs = tmp_path / "masks"
    pngs.mkdir()
    cv2.imwrite(str(pngs / "small_000001.png"), np.zeros((40, 60), np.uint8))
    hint = "small was resized when it was added (height 20 px), so its masks must have the size of its stored frames"
    delete = f"`dvos delete {tmp_project.path} video small --yes`"
    for source, said in ((path, "60x40 pixels, but video 'small' stores 30x20 frames"), (pngs, "to match the frames")):
        with pytest.raises(ValueError) as e:
            import_masks(tmp_project, "small", source)
        assert said in str(e.value) and hint in str(e.value) and delete in str(e.value), str(e.value)
        assert main(["import-masks", str(tmp_project.path), "small", str(source)]) != 0
        err = capsys.readouterr().err
        assert err.count("was resized when it was added") == 1 and said in err, err
    assert not tmp_project.video("small").provenance.any()
    plain = write(tmp_path / "b.json", coco([image(1, "000001.png", w=30, h=20)], [ann(1, 1, [[0, 0, 4, 0, 4, 4]])]))
    with pytest.raises(ValueError, match="stores 60x40 frames") as e:  # a video not resized: no such note
        import_masks(tmp_project, "plain", plain)
    assert "resized" not in str(e.value)


def test_model_masks_coming_back_as_manual_from_an_annotation_program_are_named(tmp_project, video, tmp_path):
    """A COCO file without dvos entries (re-exported by CVAT or Label Studio) over pseudo-labels or predictions:
    saved manual, with one warning naming --provenance corrected; a file exported by dvos keeps its provenances."""
    for t in (1, 2):
        video.set_mask(t, box(0, 3, 0, 3), "pseudo")
    video.set_mask(4, box(0, 3, 0, 3), "predicted")
    square = [[0, 0, 4, 0, 4, 4, 0, 4]]
    images = [image(k, f"frame_{t:06d}.png") for k, t in enumerate((1, 3, 4), 1)]
    path = write(tmp_path / "cvat.json", coco(images, [ann(k, k, square) for k in (1, 2, 3)]))
    with pytest.warns(UserWarning) as said:
        assert import_masks(tmp_project, "v", path) == [1, 3, 4]
    (note,) = [str(w.message) for w in said]
    assert str(path) in note and "2 frame(s) of v (frames 1, 4)" in note and "saved as manual" in note, note
    assert "--provenance corrected" in note, note
    assert video.provenance_counts()["manual"] == 3 and video.provenance_counts()["pseudo"] == 1  # frame 2 untouched
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said what made them: no note
        assert import_masks(tmp_project, "v", path, provenance="corrected") == [1, 3, 4]  # the same masks
    assert video.provenance_counts()["corrected"] == 3 and video.provenance_counts()["manual"] == 0
    # a file dvos exported keeps its provenances: no note
    video.set_mask(2, box(0, 5, 0, 5), "pseudo")
    (exported,) = export_masks(tmp_project, "v", tmp_path / "out", fmt="coco")
    video.set_mask(2, box(0, 3, 0, 3), "pseudo", overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 2 in import_masks(tmp_project, "v", exported)
    assert video.provenance[2] == 2 and video.mask(2).sum() == 25  # pseudo, as exported


def test_written_kinds_counts_the_frames_by_provenance(tmp_project, video):
    from dvos_core.io.masks import written_kinds

    video.set_mask(0, box(0, 3, 0, 3), "manual")
    video.set_mask(2, box(0, 3, 0, 3), "pseudo")
    video.set_mask(3, box(0, 3, 0, 3), "pseudo")
    assert written_kinds(video, [0, 2, 3]) == {"manual": 1, "pseudo": 2}
    assert written_kinds(video, [2]) == {"pseudo": 1} and written_kinds(video, []) == {}


# ---- export ------------------------------------------------------------------------------------------------------
def test_export_coco_and_import_it_back(tmp_project, video, tmp_path, capsys):
    blobs = np.zeros((H, W), np.uint8)  # heads without holes, of odd outlines: polygons
    cv2.ellipse(blobs, (8, 9), (6, 3), 35, 0, 360, 1, -1)
    cv2.ellipse(blobs, (22, 12), (4, 7), -20, 0, 360, 1, -1)
    cv2.line(blobs, (2, 18), (12, 14), 1)  # one pixel wide, steps touching at corners only
    blobs[0, 29] = 1
    holed = box(4, 14, 5, 15)
    holed[8:10, 9:11] = 0  # a head with a hole: RLE
    video.set_mask(0, blobs, "manual")
    video.set_mask(2, holed, "pseudo")
    video.set_mask(3, np.zeros((H, W), np.uint8), "manual")  # looked at, no heads
    video.set_mask(4, box(0, 1, 0, 1) | box(H - 2, H, W - 3, W), "corrected")
    out = tmp_path / "out"
    assert main(["export-masks", str(tmp_project.path), "v", str(out), "--format", "coco"]) == 0
    path = out / "v_coco.json"
    assert str(path) in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert [i["file_name"] for i in doc["images"]] == ["v_000000.png", "v_000002.png", "v_000003.png", "v_000004.png"]
    assert doc["categories"] == [{"id": 1, "name": "wheat head", "supercategory": ""}]
    segs = {i["id"]: [a["segmentation"] for a in doc["annotations"] if a["image_id"] == i["id"]] for i in doc["images"]}
    assert [type(s).__name__ for s in segs[2]] == ["dict"] and segs[3] == [] and len(segs[4]) == 2
    assert all(isinstance(s, list) for s in segs[1])
    assert sum(a["area"] for a in doc["annotations"] if a["image_id"] == 1) == blobs.sum()
    # read by the reference decoders (not dvos's): the polygons cover exactly the heads' pixels
    heads = np.zeros((H, W), np.uint8)
    for s in segs[1]:
        for p in s:
            xy = np.asarray(p).reshape(-1, 2)
            heads |= _even_odd(xy, H, W)
    assert np.array_equal(heads, blobs)
    # into another project: every mask back on its frame, the provenances kept
    from dvos_core.store import Project

    other = Project.create(tmp_path / "other.dvos")
    copy = other.add_video_array("v", np.zeros((T, H, W, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the exported empty frame 3 is not left out, nor named in a note
        assert import_masks(other, "v", path) == [0, 2, 3, 4]
    assert copy.mask(3).sum() == 0 and copy.provenance[3] == video.provenance[3]
    for t in (0, 2, 3, 4):
        assert np.array_equal(copy.mask(t), video.mask(t)), t
    assert np.array_equal(copy.provenance[:], video.provenance[:])
    # a pseudo-label changed in another program since comes back as a correction
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != 2]
    write(path, doc)
    assert import_masks(other, "v", path, overwrite=True) == [0, 2, 3, 4]
    assert copy.provenance[2] == tmp_project.video("v").provenance[4]  # corrected
    # exporting again replaces the export (edited, and imported into the other project only: replaced when asked);
    # a file of that name dvos did not write is refused
    with pytest.raises(ValueError, match=r"v_coco\.json \(image v_000002\.png changed since it was exported\)"):
        export_masks(tmp_project, "v", out, fmt="coco")
    assert export_masks(tmp_project, "v", out, fmt="coco", overwrite=True) == [path]
    assert export_masks(tmp_project, "v", out, fmt="coco") == [path]  # as dvos wrote it: replaced
    write(path, {"images": []})
    with pytest.raises(ValueError, match=r"v_coco\.json: this file is not a COCO export of dvos"):
        export_masks(tmp_project, "v", out, fmt="coco")


def _even_odd(xy, h, w) -> np.ndarray:
    """Pixels whose centre is inside polygon ``xy`` by the even-odd rule (a crossing-number test per pixel)."""
    y, x = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), bool)
    for (xa, ya), (xb, yb) in zip(xy, np.roll(xy, -1, axis=0)):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < at)
    return inside.astype(np.uint8)


def test_export_predictions_as_coco(tmp_project, video, tmp_path):
    from napari_helpers import prediction_set

    masks = np.zeros((T, H, W), np.uint8)
    masks[:, 3:9, 4:12] = 1
    prediction_set(video, "ctx", masks)
    (path,) = export_masks(tmp_project, "v", tmp_path / "out", fmt="coco", which="predictions")
    doc = json.loads(path.read_text())
    assert len(doc["images"]) == T and {i["dvos"]["model"] for i in doc["images"]} == {"ctx"}
    assert {i["dvos"]["provenance"] for i in doc["images"]} == {"predicted"}
    assert [a["area"] for a in doc["annotations"]] == [48] * T


def test_annotations_that_cover_no_pixel_are_refused_not_stored_as_no_heads(tmp_project, video, tmp_path):
    """Coordinates scaled to 0-1 (or outside the image) covered no pixel: the frame was stored as a person's
    "no heads here" although heads were annotated on it."""
    scaled = [[x, y, x + 0.08, y, x + 0.08, y + 0.1, x, y + 0.1] for x, y in ((0.1, 0.1), (0.5, 0.4))]
    far = [[300, 300, 310, 300, 310, 310, 300, 310]]
    for name, segs in (("scaled", scaled), ("outside", far)):
        doc = coco([image(1, "v_000002.png")], [ann(k + 1, 1, [s]) for k, s in enumerate(segs)])
        with pytest.raises(ValueError, match=r"image 1 \(v_000002\.png\) has \d head annotation\(s\), but none covers"):
            import_masks(tmp_project, "v", write(tmp_path / f"{name}.json", doc))
        assert not video.provenance.any()
