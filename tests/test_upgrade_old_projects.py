"""What an older dvos made, opened by this one: old training runs continue, a schema-2 store with a damaged video
folder is not half migrated, and a checkpoint of this dvos stays readable by an older dvos of the same format.

The old layouts and checkpoint dicts are written here directly (no old code needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import zarr
from conftest import tiny_train_config
from old_stores import as_older_schema

from dvos_core.data.toy import make_toy_project
from dvos_core.model.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from dvos_core.model.factory import build_model
from dvos_core.store import Project
from dvos_core.store.schema import DamagedStoreError
from dvos_core.train import TrainConfig, train

torch.set_num_threads(1)

# The training settings a run saved before each of them existed lacks (dvos of 2026-11-23 lacked them all).
ADDED_SINCE = (
    "video_model",
    "image_lr_scale",
    "anchor_weight",
    "anchor_view",
    "frame_anchor_weight",
    "select_by",
    "precision",
    "real_share",
)


def _config(**kw) -> TrainConfig:
    return tiny_train_config(size=64, **kw)


def _as_if_old(path, drop=ADDED_SINCE) -> None:
    """Rewrite the checkpoint at ``path`` as an older dvos saved it: without the training settings added since."""
    payload = torch.load(path, weights_only=True)
    for key in drop:
        payload["info"]["train_config"].pop(key, None)
    torch.save(payload, path)


def test_an_image_run_of_an_older_dvos_continues(tmp_path):
    """An image model trained for 1 epoch by an older dvos, continued for a second (`dvos train --resume`): it was
    refused over settings the user never set and the old run never had (anchor_view, select_by, ...), whatever
    was passed."""
    project = make_toy_project(tmp_path / "t.dvos", n_clips=3, n_frames=4, size=64, n_videos=0, seed=1)
    cfg = _config(phase="image", real_share=None)  # an old run drew by provenance weight alone
    train(project, cfg, "img", resume=False)
    last = project.model_dir("img") / "last.pt"
    _as_if_old(last)
    train(project, cfg.replace(epochs=2), "img", resume=True)
    payload = read_checkpoint(last)
    assert payload["info"]["train_state"]["epoch"] == 2
    assert payload["info"]["train_config"]["epochs"] == 2


def test_a_context_run_of_an_older_dvos_continues_as_it_began(tmp_path):
    """A context model run saved before the anchor loss and the inherited parts' learning rate existed: it had no
    anchor and one learning rate. Continued with today's defaults (anchor 10, two rates) it is refused, naming both;
    continued with anchor_weight 0 and image_lr_scale 1 it resumes. image_lr_scale 1 was refused as another
    setting, and image_lr_scale null by the optimizer (two rate groups, not one): such a run could not go on."""
    project = make_toy_project(tmp_path / "c.dvos", n_clips=3, n_frames=8, size=64, n_videos=0, seed=1)
    old = _config(phase="synthetic", video_model="context", anchor_weight=0.0, image_lr_scale=1.0, real_share=None)
    train(project, old, "ctx", resume=False)
    last = project.model_dir("ctx") / "last.pt"
    _as_if_old(last, [k for k in ADDED_SINCE if k != "video_model"])  # the context model came with video_model
    both = r"anchor_weight: 0\.0 when it began, now 10\.0, image_lr_scale: 1\.0 when it began, now unset \(0\.3 .*\)"
    with pytest.raises(ValueError, match=rf"different settings \({both}\)"):
        train(project, _config(phase="synthetic", video_model="context", real_share=None, epochs=2), "ctx")
    train(project, old.replace(epochs=2), "ctx", resume=True)
    assert read_checkpoint(last)["info"]["train_state"]["epoch"] == 2


def test_an_old_checkpoint_reads_with_the_settings_it_trained_with(tmp_path):
    """The settings a run of an older dvos lacks are read as what it trained with: no anchor loss, the queries
    anchored (a context run with an anchor but no anchor_view), one learning rate, the best validation epoch for
    a run from a checkpoint; settings a model does not use read as today's defaults. The file is not changed."""
    defaults = TrainConfig().to_dict()
    got = {}
    for kind, extra in (("frame", {}), ("dvos", {"init_from": "a.pt"}), ("context", {}), ("context", {"a": 1})):
        path = tmp_path / f"{kind}{len(extra)}.pt"
        train_config = {"epochs": 1, **({"anchor_weight": 10.0} if "a" in extra else {})}
        train_config.update({k: v for k, v in extra.items() if k != "a"})
        save_checkpoint(path, build_model("tiny", kind), train_config=train_config)
        before = path.read_bytes()
        got[(kind, bool(extra))] = read_checkpoint(path)["info"]["train_config"]
        assert path.read_bytes() == before
    frame, dvos = got[("frame", False)], got[("dvos", True)]
    no_anchor, anchored = got[("context", False)], got[("context", True)]
    for key in ("anchor_weight", "anchor_view", "video_model", "precision", "frame_anchor_weight", "select_by"):
        assert frame[key] == defaults[key], key  # nothing an image run without those settings did differently
    assert frame["image_lr_scale"] is None and "real_share" not in frame
    assert dvos["select_by"] == "val" and dvos["anchor_weight"] == defaults["anchor_weight"]
    assert no_anchor["anchor_weight"] == 0.0 and no_anchor["image_lr_scale"] == 1.0
    assert no_anchor["anchor_view"] == defaults["anchor_view"]  # no anchor: the view is not read
    assert anchored["anchor_weight"] == 10.0 and anchored["anchor_view"] == "query"
    # a setting the run saved is never replaced
    save_checkpoint(tmp_path / "new.pt", build_model("tiny", "context"), train_config=defaults)
    assert read_checkpoint(tmp_path / "new.pt")["info"]["train_config"] == defaults


def _schema_2_store(path):
    """Two videos in the schema 2 layout (one prediction set per video: pred_masks, pred_probability, pred_done and
    the checkpoint in the video's ``prediction`` attr)."""
    p = Project.create(path)
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[:, 2:5, 2:5] = 1
    for vid in ("a", "b"):
        p.add_video_array(vid, np.zeros((3, 8, 8, 3), np.uint8), split="test")
        g = zarr.open_group(str(path / "videos" / vid), mode="r+")
        for key, arr in (("pred_probability", masks.astype(np.float16)), ("pred_masks", masks)):
            g.create_array(key, shape=arr.shape, dtype=arr.dtype)[:] = arr
        g.create_array("pred_done", shape=(3,), dtype="uint8")[:] = 1
        g.attrs["prediction"] = {"checkpoint": f"/old/p.dvos/models/m{vid}/best.pt", "kind": "dvos"}
    as_older_schema(path, 2)
    return masks


def _listing(path):
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_video_whose_zarr_json_is_damaged_stops_the_migration_untouched(tmp_path, damage, capsys):
    """A schema-2 store where one video's ``zarr.json`` is gone (a sync tool) or cut short: the migration said
    'migrated 2 -> 3' and left that video's predictions at the old place for good (no later migration moves them),
    or failed with a bare JSON error naming no file. It now names the file, changes nothing, and migrates once the
    file is back."""
    from dvos_core.cli import main

    path = tmp_path / "old.dvos"
    masks = _schema_2_store(path)
    meta = path / "videos" / "a" / "zarr.json"
    good = meta.read_bytes()
    if damage == "missing":
        meta.unlink()
    else:
        meta.write_bytes(good[: len(good) // 2])
    before = _listing(path)
    assert main(["migrate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(meta) in err and "Restore the file from a backup" in err and "nothing was changed" in err
    assert "Traceback" not in err
    assert _listing(path) == before
    with pytest.raises(DamagedStoreError):
        Project.migrate(path)
    meta.write_bytes(good)
    assert Project.migrate(path) == [2, 3, 4]
    p = Project.open(path)
    for vid in ("a", "b"):
        preds = p.video(vid).predictions
        assert preds.models() == [f"m{vid}"]
        assert np.array_equal(preds[f"m{vid}"].masks(range(3)), masks)
    assert not (path / "videos" / "a" / "pred_masks").exists()


def test_a_foreign_folder_in_videos_does_not_stop_the_migration(tmp_path):
    """Folders that are no video (a sync tool's conflicted copy, not a valid id) are left alone, as before."""
    path = tmp_path / "old.dvos"
    _schema_2_store(path)
    (path / "videos" / "a (conflicted copy)" / "pred_masks").mkdir(parents=True)
    assert Project.migrate(path) == [2, 3, 4]
    assert Project.open(path).video("b").predictions.models() == ["mb"]


# The model settings a dvos of checkpoint format 3 knew when the format came out (2026-12-01): it refuses a file
# whose config has any other key ("unknown model config keys ... written by an incompatible dvos version").
FORMAT_3_KEYS = {
    "name",
    "widths",
    "latent",
    "tau",
    "res_blocks",
    "stem_blocks",
    "groups",
    "stem",
    "head_width",
    "head_out",
    "dropout",
    "temporal_reduction",
    "attention_bias",
    "skip_diffusion",
    "beta_a",
    "beta_b",
    "beta_step",
    "diffusion_steps",
    "beta_start",
    "beta_end",
    "input_size",
    "fusion_levels",
    "fusion_radius",
    "fusion_dim",
    "mask_prior_offsets",
}


@pytest.mark.parametrize("kind", ["frame", "dvos", "context"])
def test_a_checkpoint_without_the_later_options_is_read_by_an_older_dvos_of_its_format(tmp_path, kind):
    """A model trained today without the options added since format 3 came out (prior_refine, input_fusion) is
    saved with only the settings an older dvos of format 3 knows, so it predicts there too (it refused the file);
    read back here it is the same model."""
    model = build_model("tiny", kind)
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == 3 and set(payload["config"]) <= FORMAT_3_KEYS
    back, info = load_checkpoint(path)
    assert back.config == model.config and info["config"] == model.config.to_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value)


def test_a_checkpoint_using_a_later_option_keeps_it(tmp_path):
    model = build_model("tiny", "context", input_fusion=True)
    path = save_checkpoint(tmp_path / "m.pt", model)
    assert json.loads(json.dumps(torch.load(path, weights_only=True)["config"]))["input_fusion"] is True
    assert load_checkpoint(path)[0].config.input_fusion is True


def test_an_empty_mask_an_older_schema_3_build_left_without_its_file_reads_after_migrating(tmp_path):
    """The last schema-3 builds marked their arrays 'every chunk written'; an earlier schema-3 build writing into
    them (the same project on two machines) deleted the chunk of an empty painted mask ("no heads here"), which
    read as damage after `dvos migrate` to schema 4 and blocked extraction and export, with a fix naming a backup
    no one had. Migrating to 4 now keeps every schema-3 array reading missing chunks as zeros."""
    from dvos_core.store.arrays import EVERY_CHUNK
    from dvos_core.store.check import check_project

    p = Project.create(tmp_path / "p.dvos")
    v = p.add_video_array("seed", np.full((4, 16, 16, 3), 90, np.uint8))
    m = np.zeros((16, 16), np.uint8)
    m[2:6, 2:6] = 1
    v.set_mask(0, m, "manual")
    v.set_mask(1, np.zeros((16, 16), np.uint8), "manual")  # painted: no heads here
    chunk = p.path / "videos" / "seed" / "masks" / "c" / "1" / "0" / "0"
    assert chunk.is_file()
    chunk.unlink()  # what the earlier build did with an all-zero chunk
    as_older_schema(p.path, 3)
    assert Project.migrate(p.path) == [3, 4]
    p = Project.open(p.path)
    assert check_project(p) == []
    v = p.video("seed")
    assert not v.mask(1).any() and v.provenance[1] == 1 and np.array_equal(v.mask(0), m)
    assert EVERY_CHUNK not in zarr.open_array(str(p.path / "videos" / "seed" / "masks")).attrs
    new = p.add_video_array("after", np.zeros((2, 16, 16, 3), np.uint8))  # arrays made by schema 4 are marked
    assert zarr.open_array(str(p.path / "videos" / new.name / "masks")).attrs.get(EVERY_CHUNK) is True


def test_the_command_check_gives_for_an_older_stopped_run_continues_it(tmp_path, capsys):
    """A run stopped by a dvos from before real_share existed: `dvos check`'s command to continue it was refused
    ("real_share: None when it began, now 0.3"); it now carries --real-share off, and continues the run."""
    import shlex

    from dvos_core.cli import main
    from dvos_core.progress import CancelToken
    from dvos_core.store.check import check_project
    from dvos_core.train.events import EpochEvent

    p = make_toy_project(tmp_path / "p.dvos", n_clips=3, n_frames=6, size=64, n_videos=0)
    token = CancelToken()
    with pytest.raises(Exception, match="cancelled"):
        train(
            p,
            _config(epochs=3, real_share=None),
            "old",
            cancel=token,
            on_event=lambda e: isinstance(e, EpochEvent) and token.cancel(),
        )
    folder = p.model_dir("old")
    _as_if_old(folder / "last.pt", drop=("real_share",))
    yaml_file = folder / "config.yaml"
    yaml_file.write_text("\n".join(x for x in yaml_file.read_text().splitlines() if not x.startswith("real_share")))
    found = [f for f in check_project(p) if f.where == "model old"]
    command = found[0].message.split("`")[1]
    assert command.endswith("--real-share off")
    capsys.readouterr()
    assert main(shlex.split(command)[1:]) == 0
    assert read_checkpoint(folder / "last.pt")["info"]["train_state"]["epoch"] == 3


def test_a_part_predicted_set_moved_from_schema_2_is_not_said_to_resume(tmp_path):
    """A set moved by the migration records no checkpoint fingerprint: `dvos predict` predicts it whole again, so
    the note finishing it must not promise a resume."""
    from dvos_core.store.notes import unfinished_note
    from dvos_core.store.project import _prediction_sets

    path = tmp_path / "two.dvos"
    _schema_2_store(path)
    zarr.open_group(str(path / "videos" / "a"), mode="r+")["pred_done"][2] = 0  # a predict stopped there
    Project.migrate(path)
    v = Project.open(path).video("a")
    d = _prediction_sets(v, v.predictions.models())[0]["ma"]
    note = unfinished_note(path, "a", "ma", d)
    assert "(it resumes)" not in note and "every frame is predicted again" in note


def test_arrays_both_moved_and_written_again_at_the_old_place_stop_the_migration(tmp_path):
    """A migration killed after moving a video's predicted masks, then an older dvos predicting again into the
    half-moved store: finishing the migration left the newer arrays at the old place, read by nothing, and the
    older set scored under the model's name. It now stops, naming both, with nothing changed."""
    path = tmp_path / "two.dvos"
    masks = _schema_2_store(path)
    g = zarr.open_group(str(path / "videos" / "a"), mode="r+")
    target = g.require_group("predictions").require_group("ma")
    (path / "videos" / "a" / "pred_masks").rename(path / "videos" / "a" / "predictions" / "ma" / "masks")  # killed here
    assert target is not None
    g.create_array("pred_masks", shape=masks.shape, dtype=masks.dtype)[:] = 1 - masks  # the older dvos predicts again
    before = _listing(path)
    with pytest.raises(
        ValueError, match=r"both at their old place and already moved \(.*a/pred_masks and .*ma/masks\)"
    ):
        Project.migrate(path)
    assert _listing(path) == before
