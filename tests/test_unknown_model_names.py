"""A model name the project does not know (`--model context` where it has ctx, image, p1): evaluate, count-heads and
export-masks suggested `dvos predict P context --videos plot9`, which then failed ("no model 'context' with
best.pt"). They now say there is no model or prediction set of that name and list the project's; a model that
exists but has not predicted the video still gets the predict command."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.store import Project


@pytest.fixture()
def project(tmp_path):
    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("plot9", np.zeros((4, 32, 32, 3), np.uint8), split="test")
    mask = np.zeros((32, 32), np.uint8)
    mask[4:10, 4:10] = 1
    for t in range(4):
        v.set_mask(t, mask, "manual")
    for name in ("ctx", "image", "p1", "fresh"):
        (p.model_dir(name, create=True) / "best.pt").write_bytes(b"x")
        if name != "fresh":  # a model that has predicted nothing yet
            v.predictions[name].start({"kind": "test"}, None)
            v.predictions[name].set_many(range(4), np.repeat(mask[None].astype(np.float32), 4, 0))
    return p


COMMANDS = (
    ["evaluate", "{p}", "--model", "{m}"],
    ["count-heads", "{p}", "plot9", "--predictions", "--model", "{m}"],
    ["export-masks", "{p}", "plot9", "{out}", "--predictions", "--model", "{m}"],
)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_an_unknown_model_is_named_with_the_projects_models(project, argv, tmp_path, capsys):
    def run(model):
        assert main([a.format(p=project.path, m=model, out=tmp_path / "xo") for a in argv]) != 0
        return capsys.readouterr().err

    text = run("context")
    assert "no model or prediction set named 'context'" in text and "dvos predict" not in text, text
    assert "its models: ctx, fresh, image, p1; its prediction sets: ctx, image, p1" in text, text
    text = run("fresh")  # a model of the project: predicting with it is the fix
    assert f"`dvos predict {project.path} fresh --videos plot9`" in text, text
