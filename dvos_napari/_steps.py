"""Where a project stands in the dvos loop: for each step, whether it is done and what it holds (read from the store).

``workflow_status(project)`` -> {step: StepStatus(done, note)}; the first step not done is the suggested next one.
"""

from __future__ import annotations

from dataclasses import dataclass

STEPS = ("Project", "Annotate", "Extract", "Synthesize", "Train", "Predict", "Review")
SUMMARIES = {
    "Project": "create or open a project and add your videos",
    "Annotate": "paint the wheat heads of a few seed frames and save them",
    "Extract": "cut the painted heads out, and background clips from bare-field footage or the painted frames",
    "Synthesize": "make synthetic training clips: your heads pasted on moving backgrounds",
    "Train": "train the image model, then the video model (synthetic, then your videos)",
    "Predict": "pseudo-label the training videos, then predict videos with your model",
    "Review": "measure and compare the models' predictions, fix the worst frames, save them as corrections",
}


@dataclass(frozen=True)
class StepStatus:
    done: bool
    note: str


def workflow_status(project, cache=None) -> dict[str, StepStatus]:
    """Done / not done and a one-line note for every step of the loop; ``cache`` (a
    :class:`~dvos_napari._summary.SummaryCache`, default a fresh one) reads again only the videos that changed since
    its last look."""
    if project is None:
        return {s: StepStatus(False, "open or create a project first") for s in STEPS}
    from dvos_napari._summary import SummaryCache

    per_video: dict = {}
    s = (cache or SummaryCache()).summary(project, per_video)
    complete = {v["id"] for v in s["videos"] if v["complete"]}  # as project.videos(): finished imports only
    predicted = sum(n for vid, n in per_video.items() if vid in complete)
    videos = s["videos"]

    def human_of(v) -> int:
        return v["provenance"].get("manual", 0) + v["provenance"].get("corrected", 0)

    # test videos' masks only score: painting them does not make the loop's next steps possible
    human = sum(human_of(v) for v in videos if v.get("split") != "test")
    tested = sum(human_of(v) for v in videos if v.get("split") == "test")
    usable = [m for m in s["models"] if (project.model_dir(m) / "best.pt").is_file()]  # what Predict can use
    unfinished = [m for m in s["models"] if m not in usable]
    pseudo = sum(v["provenance"].get("pseudo", 0) for v in videos)
    heads, fakes, bgs = s["objects"]["head"], s["objects"]["fake"], len(s["backgrounds"])
    sets = s["synthetic"]
    full_sets = [name for name, st in sets.items() if st["clips"] and st["clips_done"] >= st["clips"]]
    return {
        "Project": StepStatus(
            bool(videos),
            f"{len(videos)} video(s)"
            if videos
            else "no video yet: add one under 'Add a video' (From file..., From folder... or From selected layer)",
        ),
        "Annotate": StepStatus(
            human > 0,
            (
                f"{human} frame(s) painted or corrected"
                if human
                else "no frame of a training video painted yet: double-click one in the Project step, then paint "
                "the heads of a few frames and save them"
            )
            + (f" (and {tested} in test videos, which only score)" if tested else ""),
        ),
        "Extract": StepStatus(heads > 0 and bgs > 0, f"{heads} heads, {fakes} fakes, {bgs} background clip(s)"),
        "Synthesize": StepStatus(bool(full_sets), f"synthetic sets: {', '.join(sets) or 'none'}"),
        "Train": StepStatus(
            bool(usable),
            f"models: {', '.join(usable) or 'none'}"
            + (f" (stopped before their first checkpoint: {', '.join(unfinished)})" if unfinished else ""),
        ),
        "Predict": StepStatus(predicted > 0 or pseudo > 0, f"{pseudo} pseudo-labelled, {predicted} predicted frame(s)"),
        "Review": StepStatus(bool(s["reports"]), f"{len(s['reports'])} evaluation(s)"),
    }


def next_step(status: dict[str, StepStatus]) -> str:
    """The first step that is not done (the last step when all are)."""
    return next((s for s in STEPS if not status[s].done), STEPS[-1])
