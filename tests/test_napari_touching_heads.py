"""Heads painted in napari with different label numbers that touch merge into one head in the stored binary mask:
saving them says so, as importing such a label map does (run with xvfb-run)."""

import os

import numpy as np
import pytest
from napari_helpers import prediction_set, shown_in, tiny_clip

pytest.importorskip("napari")
pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run"),
]


def _two_heads(layer, t, gap: int):
    """Paint head 1 and head 2 side by side on frame t, ``gap`` px of background between them."""
    data = np.asarray(layer.data).copy()
    data[t] = 0
    data[t, 10:20, 10:20] = 1
    data[t, 10:20, 20 + gap : 30 + gap] = 2
    layer.data = data


def test_saving_touching_heads_of_different_numbers_warns(make_napari_viewer, qtbot, tmp_project):
    frames, _ = tiny_clip(4)
    tmp_project.add_video_array("plot", frames, split="train")
    viewer = make_napari_viewer()
    ann = shown_in(viewer, qtbot, "Annotate", tmp_project, "plot")
    layer = viewer.layers["plot masks"]
    _two_heads(layer, 1, gap=1)  # apart: nothing to say
    assert ann.save_frame(1)
    assert "touch" not in ann.messages.text()
    _two_heads(layer, 2, gap=0)
    assert ann.save_frame(2)
    said = ann.messages.text()
    assert "2 heads painted with different numbers touch on frame 2 of plot" in said and "1 head(s)" in said
    assert tmp_project.video("plot").mask(2).sum() == 200  # saved all the same, as one binary mask


def test_saving_a_correction_with_touching_heads_warns(make_napari_viewer, qtbot, tmp_project):
    frames, masks = tiny_clip(4)
    v = tmp_project.add_video_array("plot", frames, split="val")
    prediction_set(v, "m", np.zeros_like(masks))
    viewer = make_napari_viewer()
    rv = shown_in(viewer, qtbot, "Review", tmp_project, "plot")
    viewer.dims.set_current_step(0, 1)
    layer = viewer.layers["plot predicted"]
    layer.data[1, 10:20, 10:20] = 1
    layer.data[1, 10:20, 20:30] = 2
    layer.refresh()
    assert rv.save_correction()
    assert "touch on frame 1 of plot" in rv.fix_info.text()
    assert "checks itself on it (a val video" in rv.fix_info.text()  # a val video's frames are not trained on


def test_the_synthesize_step_offers_border_heads_as_a_choice(make_napari_viewer):
    """border_heads (a word) fell into the form as a free text field; the warning names it as a setting to change."""
    from qtpy.QtWidgets import QComboBox

    from dvos_napari.docks.synthesize import SynthesizeDock

    syn = SynthesizeDock(make_napari_viewer())
    assert syn.form.values()["border_heads"] == "auto"
    assert isinstance(syn.form.widgets["border_heads"], QComboBox)
    syn.form.set_values({"border_heads": "use"})
    assert syn.form.value().border_heads == "use"
