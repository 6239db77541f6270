"""Training on large footage: the start of an epoch (its first batch read, the model warming up) and validation
(longer than a step on a CPU) report their progress instead of leaving the bar silent."""

import pytest
import torch

from dvos_core.data.toy import make_toy_project
from dvos_core.train import TrainConfig, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_toy_project(
        tmp_path_factory.mktemp("t") / "toy.dvos", n_clips=8, n_frames=8, size=64, n_videos=2, video_frames=12, seed=1
    )


def test_validation_reports_progress_batch_by_batch(project):
    cfg = TrainConfig(
        phase="synthetic", preset="tiny", epochs=2, batch_size=2, size=64, lr=3e-3, eta_min=1e-4,
        max_steps_per_epoch=2, seed=7, num_workers=0,
    )  # fmt: skip
    seen = []
    events = []
    train(project, cfg, "val_progress", resume=False, progress=lambda d, t, m: seen.append((d, t, m)),
          on_event=events.append)  # fmt: skip
    val_frames = [e for e in events if e["type"] == "epoch"]
    assert len(val_frames) == 2
    for epoch in (1, 2):
        msgs = [(d, t, m) for d, t, m in seen if m.startswith(f"epoch {epoch}/2 validating")]
        assert msgs, f"no progress while epoch {epoch} validated: {seen}"
        n = int(msgs[0][2].rsplit("/", 1)[1])
        assert n >= 2 and [m for _, _, m in msgs] == [
            f"epoch {epoch}/2 validating: batch {k}/{n}" for k in range(1, n + 1)
        ]
        assert all(d == 2 * epoch and t == 4 for d, t, _ in msgs)  # the bar stays at the epoch's last step
        last_step = max(i for i, (_, _, m) in enumerate(seen) if m.startswith(f"epoch {epoch}/2 step 2/2"))
        assert seen.index(msgs[0]) == last_step + 1  # right after the epoch's last step
        starts = [i for i, (_, _, m) in enumerate(seen) if m == f"epoch {epoch}/2: step 1/2 under way"]
        first_step = min(i for i, (_, _, m) in enumerate(seen) if m.startswith(f"epoch {epoch}/2 step 1/2"))
        assert len(starts) == 1 and starts[0] == first_step - 1 and seen[starts[0]][:2] == (2 * (epoch - 1), 4)
