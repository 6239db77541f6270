"""Masks written the way annotation tools write them (CVAT, Label Studio, ImageJ/Fiji, paint programs), imported.

The files follow each tool's export format as documented (CVAT "Segmentation mask 1.1": SegmentationClass /
SegmentationObject colour PNGs beside labelmap.txt; tifffile's ImageJ writer; Label Studio brush PNG names)."""

import numpy as np
import pytest
from PIL import Image

from dvos_core.cli import main
from dvos_core.io import import_masks

T, H, W = 3, 24, 32
HEAD, LEAF = (250, 50, 83), (51, 221, 255)


def _truth():
    heads = np.zeros((T, H, W), np.uint8)
    leaves = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        heads[t, 2:8, 3 + 2 * t : 11 + 2 * t] = 1
        heads[t, 14:20, 20:26] = 1
        leaves[t, 10:13, 2:18] = 1
    return heads, leaves


@pytest.fixture
def video(tmp_project):
    rng = np.random.default_rng(0)
    return tmp_project.add_video_array("v", rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8))


def _cvat_export(root, classes, leaves_too=False):
    """A CVAT 'Segmentation mask 1.1' export: labelmap.txt, SegmentationClass/ (class colours) and
    SegmentationObject/ (one colour per instance), frames named frame_000000.png as in a video task."""
    heads, leaves = _truth()
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "SegmentationObject").mkdir()
    lines = ["# label:color_rgb:parts:actions"] + [f"{n}:{c[0]},{c[1]},{c[2]}::" for n, c in classes]
    (root / "labelmap.txt").write_text("\n".join(lines) + "\n")
    instance_colours = [(128, 0, 0), (0, 128, 0), (128, 128, 0)]
    from scipy import ndimage

    for t in range(T):
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[heads[t] > 0] = HEAD
        if leaves_too:
            rgb[leaves[t] > 0] = LEAF
        Image.fromarray(rgb).save(root / "SegmentationClass" / f"frame_{t:06d}.png")
        parts, n = ndimage.label(heads[t])
        obj = np.zeros((H, W, 3), np.uint8)
        for k in range(1, n + 1):
            obj[parts == k] = instance_colours[k - 1]
        Image.fromarray(obj).save(root / "SegmentationObject" / f"frame_{t:06d}.png")
    return heads


def _masks(video):
    return np.stack([video.mask(t) for t in range(T)])


def test_cvat_class_masks_read_by_their_labelmap(tmp_project, video, tmp_path):
    heads = _cvat_export(tmp_path / "export", [("background", (0, 0, 0)), ("head", HEAD)])
    assert import_masks(tmp_project, "v", tmp_path / "export" / "SegmentationClass") == [0, 1, 2]
    assert np.array_equal(_masks(video), heads)


def test_cvat_several_classes_ask_which_is_the_heads(tmp_project, video, tmp_path):
    classes = [("background", (0, 0, 0)), ("head", HEAD), ("leaf", LEAF)]
    heads = _cvat_export(tmp_path / "export", classes, leaves_too=True)
    src = tmp_path / "export" / "SegmentationClass"
    with pytest.raises(ValueError, match=r"frame_000000.png.*2 classes besides the background \(head, leaf\).*--class"):
        import_masks(tmp_project, "v", src)
    with pytest.raises(ValueError, match=r"no class 'heads'; its classes: background, head, leaf"):
        import_masks(tmp_project, "v", src, label_class="heads")
    assert video.mask(0) is None  # nothing written by a refused import
    project = str(tmp_project.path)
    assert main(["import-masks", project, "v", str(src), "--class", "head"]) == 0
    assert np.array_equal(_masks(video), heads)  # the leaves are not heads


def test_class_option_without_labelmap_is_refused(tmp_project, video, tmp_path):
    d = tmp_path / "masks"
    d.mkdir()
    Image.fromarray(_truth()[0][0] * 255).save(d / "m_000000.png")
    with pytest.raises(ValueError, match=r"--class head .*labelmap.txt.*none in"):
        import_masks(tmp_project, "v", d, label_class="head")


def test_colour_instance_masks_with_labels(tmp_project, video, tmp_path):
    heads = _cvat_export(tmp_path / "export", [("background", (0, 0, 0)), ("head", HEAD)])
    src = tmp_path / "export" / "SegmentationObject"
    with pytest.raises(ValueError, match=r"colour\(s\) .* are not classes of .*labelmap.txt.*--labels"):
        import_masks(tmp_project, "v", src)
    assert import_masks(tmp_project, "v", src, allow_labels=True) == [0, 1, 2]
    assert np.array_equal(_masks(video), heads)


def test_colour_masks_without_labelmap_name_the_ways_in(tmp_project, video, tmp_path):
    d = tmp_path / "masks"
    d.mkdir()
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[_truth()[0][0] > 0] = HEAD
    Image.fromarray(rgb).save(d / "m_000000.png")
    with pytest.raises(ValueError, match=r"colour mask image \(colours \(0,0,0\), \(250,50,83\)\).*--labels.*labelmap"):
        import_masks(tmp_project, "v", d)


def _palette_png(path, indices, palette):
    im = Image.frombytes("P", (W, H), indices.astype(np.uint8).tobytes())
    im.putpalette(palette + [0] * (768 - len(palette)))
    im.save(path)


def test_palette_png_whose_index_0_is_white_is_refused(tmp_project, video, tmp_path):
    """A palette [white, black] with white heads: read as indices, the heads (index 0) would become background."""
    heads = _truth()[0][0]
    _palette_png(tmp_path / "m_000000.png", 1 - heads, [255, 255, 255, 0, 0, 0])
    with pytest.raises(ValueError, match=r"m_000000.png: palette image whose indices and colours disagree.*greyscale"):
        import_masks(tmp_project, "v", tmp_path / "m_000000.png")
    assert video.mask(0) is None
    _palette_png(tmp_path / "m_000001.png", heads, [0, 0, 0, 128, 0, 0])  # VOC palette: index 1 = class 1
    assert import_masks(tmp_project, "v", tmp_path / "m_000001.png") == [1]
    assert np.array_equal(video.mask(1), heads)


@pytest.mark.parametrize("n", [3, 4])
def test_imagej_stack_of_3_or_4_masks(tmp_project, tmp_path, n):
    """tifffile.imwrite(path, masks, imagej=True) puts 3 or 4 masks on ImageJ's channel axis (CYX)."""
    import tifffile

    rng = np.random.default_rng(n)
    tmp_project.add_video_array("w", rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8))
    masks = (rng.random((n, H, W)) > 0.7).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", masks * 255, imagej=True)
    assert import_masks(tmp_project, "w", tmp_path / "stack.tif") == list(range(n))
    v = tmp_project.video("w")
    assert all(np.array_equal(v.mask(t), masks[t]) for t in range(n))


def test_masks_numbered_from_one_say_so(tmp_project, video, tmp_path):
    for t in range(T):
        Image.fromarray(_truth()[0][t] * 255).save(tmp_path / f"{t + 1:04d}.png")
    with pytest.raises(ValueError, match=r"0003.png: frame 3 is out of range.*numbered 1..3, as if counted from 1"):
        import_masks(tmp_project, "v", tmp_path)


def test_label_studio_names_clash_with_a_fix(tmp_project, video, tmp_path):
    """Label Studio's brush PNGs end in the region's index (-0), not the frame: every file says frame 0."""
    for t in range(T):
        Image.fromarray(_truth()[0][t] * 255).save(tmp_path / f"task-{t + 1}-annotation-{t + 1}-by-1-tag-Head-0.png")
    with pytest.raises(ValueError, match=r"both give the mask of frame 0: a mask's frame is the last number.*rename"):
        import_masks(tmp_project, "v", tmp_path)


def test_masks_painted_black_on_white_are_named_as_likely_inverted(tmp_project, video, tmp_path):
    """A mask of black heads on white (GIMP, Paint) reads as its inverse and no value tells: it is written as it is,
    with a warning naming the file; masks of ordinary coverage import without one."""
    truth = _truth()[0][1]
    folder = tmp_path / "inverted"
    folder.mkdir()
    Image.fromarray(np.where(truth > 0, 0, 255).astype(np.uint8)).save(folder / "m_000001.png")
    Image.fromarray((truth * 255).astype(np.uint8)).save(folder / "m_000002.png")
    inverted = r"1 of 2 masks mark more than half of their frame as heads \(e\.g\. .*m_000001"
    with pytest.warns(UserWarning, match=inverted):
        assert import_masks(tmp_project, "v", folder) == [1, 2]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import_masks(tmp_project, "v", folder / "m_000002.png", frames=[0])


def test_a_class_mask_read_with_labels_is_refused_rather_than_taking_every_class_as_heads(tmp_project, video, tmp_path):
    classes = [("background", (0, 0, 0)), ("head", HEAD), ("leaf", LEAF)]
    heads = _cvat_export(tmp_path / "export", classes, leaves_too=True)
    with pytest.raises(ValueError, match=r"classes head, leaf of .*labelmap.txt: a class mask.*--class NAME"):
        import_masks(tmp_project, "v", tmp_path / "export" / "SegmentationClass", allow_labels=True)
    assert video.mask(0) is None
    # the instance folder of the same export (colours that are no class) is still read with --labels
    assert import_masks(tmp_project, "v", tmp_path / "export" / "SegmentationObject", allow_labels=True) == [0, 1, 2]
    assert np.array_equal(_masks(video), heads)


def test_masks_counted_from_one_go_in_with_first_number(tmp_project, video, tmp_path):
    """Seed masks named like ffmpeg's frames (000001.png is the first frame) whose last frame is not painted landed
    one frame late without a word; --first-number 1 places them, and the error for 1..n names it."""
    heads = _truth()[0]
    for t in (0, 1):  # the first two frames painted, the last not
        Image.fromarray(heads[t] * 255).save(tmp_path / f"{t + 1:06d}.png")
    project = str(tmp_project.path)
    assert main(["import-masks", project, "v", str(tmp_path), "--first-number", "1"]) == 0
    assert np.array_equal(video.mask(0), heads[0]) and np.array_equal(video.mask(1), heads[1])
    assert video.mask(2) is None
    Image.fromarray(heads[2] * 255).save(tmp_path / "000003.png")
    for t in range(T):
        video.clear_mask(t)
    with pytest.raises(ValueError, match=r"counted from 1.*--first-number 1"):
        import_masks(tmp_project, "v", tmp_path)
    with pytest.raises(ValueError, match=r"000001.png: its number 1 is below --first-number 2"):
        import_masks(tmp_project, "v", tmp_path, first_number=2)
    with pytest.raises(ValueError, match=r"--first-number .* and --numbering source"):
        import_masks(tmp_project, "v", tmp_path, first_number=1, numbering="source")


def test_a_folder_holding_a_coco_file_names_it(tmp_project, video, tmp_path, capsys):
    """An unzipped CVAT "COCO 1.0" export (images/ and annotations/instances_default.json) picked as a folder of
    mask images: the error names the COCO file to import instead; the file itself goes in."""
    import json

    export = tmp_path / "cvat"
    (export / "annotations").mkdir(parents=True)
    (export / "images").mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(export / "images" / "frame_000001.jpg")
    doc = {
        "images": [{"id": 1, "file_name": "frame_000001.jpg", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]}],
        "categories": [{"id": 1, "name": "head"}],
    }
    coco = export / "annotations" / "instances_default.json"
    coco.write_text(json.dumps(doc))
    fix = f"it holds {coco}, a COCO file: import that file"
    with pytest.raises(ValueError, match="folder has no mask images") as e:
        import_masks(tmp_project, "v", export)
    assert fix in str(e.value), str(e.value)
    with pytest.raises(ValueError) as e:  # the annotations folder itself
        import_masks(tmp_project, "v", export / "annotations")
    assert fix in str(e.value), str(e.value)
    assert main(["import-masks", str(tmp_project.path), "v", str(export)]) == 2
    assert fix in capsys.readouterr().err
    with pytest.raises(ValueError) as e:  # a folder of JPEG frames only: no COCO file to name
        import_masks(tmp_project, "v", export / "images")
    assert "COCO" not in str(e.value) and "JPEG" in str(e.value), str(e.value)
    assert not video.provenance.any()
    assert import_masks(tmp_project, "v", coco) == [1] and video.mask(1).sum() == 16


def test_float_colour_masks_read_as_their_colours_or_name_the_file(tmp_project, video, tmp_path):
    """A float TIFF whose channels differ (found by the fuzz suite) failed with numpy's TypeError: whole values 0-255
    are the colours they say (here an instance mask read with --labels); other values name the file and the fix."""
    import tifffile

    heads = _truth()[0]
    d = tmp_path / "masks"
    d.mkdir()
    for t in range(T):
        rgb = np.zeros((H, W, 3), np.float32)
        rgb[heads[t] > 0] = (128.0, 0.0, 0.0)
        tifffile.imwrite(d / f"m_{t:03d}.tif", rgb, photometric="rgb")
    assert import_masks(tmp_project, "v", d, allow_labels=True) == [0, 1, 2]
    assert np.array_equal(_masks(video), heads)
    odd = tmp_path / "odd"
    odd.mkdir()
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[heads[0] > 0] = (0.5, 0.0, 1.0)
    tifffile.imwrite(odd / "m_000.tif", rgb, photometric="rgb")
    with pytest.raises(ValueError, match=r"m_000.tif: a colour image of float32 values .*8-bit colours"):
        import_masks(tmp_project, "v", odd, allow_labels=True, overwrite=True)
    assert np.array_equal(_masks(video), heads)  # what was imported stays
