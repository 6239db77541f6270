"""An index of training samples (source, query frame) over the store's videos and synthetic sets.

A sample is a query frame ``t`` that has a mask, plus its ``tau`` reference frames ``t - delta*tau .. t - delta``
(oldest first) from the same source; references before the start of the source (or of its validation segment, when
a lone source is split in time) are clamped to that first frame, so a clip never leaves its video or crosses a split
boundary. Reference frames need no mask.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from dvos_core.shell import quote
from dvos_core.store.schema import PROVENANCE_NAMES, PSEUDO, SYNTHETIC, id_list, provenance_code
from dvos_core.user_warnings import warn_user

PHASES = ("image", "synthetic", "real")
# why a test video named among the videos to train on is refused (extract._checks.training_video's words)
_TRAINING_ON_TEST = "a model trained on it would be scored on frames it learnt from"
DEFAULT_PROVENANCE_WEIGHTS = {"manual": 3.0, "corrected": 3.0, "pseudo": 1.0, "synthetic": 1.0, "predicted": 0.5}
PHASE_PROVENANCES = {
    "image": ("manual", "corrected", "pseudo"),
    "real": ("manual", "corrected", "pseudo"),
    "synthetic": (),
}


@dataclass(frozen=True)
class Sample:
    kind: str  # "video" or "synthetic"
    source: str  # video id or synthetic set name
    clip: int  # clip number inside a synthetic set (-1 for videos)
    t: int  # query frame
    provenance: int  # provenance code of the query mask
    weight: float
    start: int = 0  # first frame references may use (the start of the source or of its split segment)
    stop: int | None = None  # frames from here on are off limits to references (a later split segment); None: none

    @property
    def key(self) -> str:
        return self.source if self.kind == "video" else f"{self.source}/{self.clip}"


@dataclass
class ClipIndex:
    samples: list = field(default_factory=list)
    tau: int = 4
    delta: int = 1

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    @property
    def weights(self) -> np.ndarray:
        return np.array([s.weight for s in self.samples], dtype=np.float64)

    def reference_times(self, t: int, start: int = 0) -> list[int]:
        """Reference frame indices for query t, oldest first, clamped to frame ``start``."""
        return [max(start, t - self.delta * i) for i in range(self.tau, 0, -1)]

    def sources(self) -> list[str]:
        return sorted({s.key for s in self.samples})

    def summary(self) -> dict:
        """Counts per source kind / provenance, for checkpoints and logs."""
        by_prov: dict = {}
        for s in self.samples:
            name = PROVENANCE_NAMES.get(s.provenance, str(s.provenance))
            by_prov[name] = by_prov.get(name, 0) + 1
        videos = sorted({s.source for s in self.samples if s.kind == "video"})
        total = float(self.weights.sum()) if self.samples else 0.0
        real = sum(s.weight for s in self.samples if s.kind == "video")
        sets = sorted({s.source for s in self.samples if s.kind == "synthetic"})
        return {
            "samples": len(self),
            "tau": self.tau,
            "delta": self.delta,
            "provenance": by_prov,
            "videos": videos,
            "synthetic_sets": sets,
            "synthetic_clips": len({s.key for s in self.samples if s.kind == "synthetic"}),
            "real_draw_share": round(real / total, 4) if total > 0 else 0.0,  # of the weighted draws
            "sources": self.sources(),
        }

    # ---- building --------------------------------------------------------------------------------------------
    @classmethod
    def from_project(
        cls,
        project,
        tau: int = 4,
        delta: int = 1,
        phase: str = "synthetic",
        split: str = "train",
        synthetic_sets=None,
        video_ids=None,
        provenances=None,
        provenance_weights=None,
        pseudo_quality_min: float | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        real_share: float | None = None,
    ) -> ClipIndex:
        """The samples of ``split`` ("train" or "val") for a training phase.

        * ``phase="synthetic"``: clips of the synthetic sets (``synthetic_sets`` names, None = all).
        * ``phase="real"``: labelled frames of real videos (``video_ids``, None = all) with ``provenances``
          (default manual, corrected, pseudo); synthetic sets only when named explicitly.
        * ``phase="image"``: every labelled frame of the chosen videos and synthetic sets (None = all of both).

        Real videos use their ``split`` attribute (unassigned = train, test never used: naming a test video is
        an error); synthetic sets use theirs (default train). When no validation data exists, ``val_fraction``
        of the training sources of each kind (synthetic clips, real videos) is held out whole if that kind has
        at least 1/val_fraction sources (a kind with fewer keeps all of its sources for training); if no kind
        has that many, every source is split in time (its last frames validate), so no source is lost to
        training. ``real_share``: the share of the training draws that go to real videos' frames when synthetic
        clips are mixed in (None: by provenance weight alone).
        """
        train, val = split_samples(
            project,
            tau,
            delta,
            phase,
            synthetic_sets,
            video_ids,
            provenances,
            provenance_weights,
            pseudo_quality_min,
            val_fraction,
            seed,
            real_share if split == "train" else None,
        )
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return cls(train if split == "train" else val, tau, delta)


def weights_by_code(provenance_weights) -> dict:
    w = dict(DEFAULT_PROVENANCE_WEIGHTS)
    w.update(provenance_weights or {})
    out = {}
    for name, value in w.items():
        if float(value) < 0:
            raise ValueError(f"provenance weight for {name!r} must be >= 0, got {value}")
        out[provenance_code(name)] = float(value)
    return out


def _warn_sets_from_test_videos(project, sets) -> None:
    """Warn of synthetic sets among ``sets`` made with heads of videos that are test videos now."""
    from dvos_core.synth.bank import sets_from_test_videos, sets_from_test_videos_warning

    leaked = sets_from_test_videos(project, sets)
    if leaked:
        warn_user(sets_from_test_videos_warning(project, leaked, "training on them learns the test ground truth"))


def _collect(project, phase, synthetic_sets, video_ids, provenances, weights, quality_min):
    """{split: {source key: [Sample, ...]}} for the chosen sources."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    by_split: dict = {"train": {}, "val": {}}
    use_videos = phase in ("real", "image")
    if phase == "real":
        sets = id_list(synthetic_sets) or []
    else:
        sets = project.synthetic_ids() if synthetic_sets is None else id_list(synthetic_sets)
    _warn_sets_from_test_videos(project, sets)
    for name in sets:
        s = project.synthetic(name)
        split = s.split if s.split in ("train", "val") else None
        if split is None:
            continue
        w = weights.get(SYNTHETIC, 1.0)
        for clip in s.done():
            key = f"{name}/{int(clip)}"
            by_split[split][key] = [Sample("synthetic", name, int(clip), t, SYNTHETIC, w) for t in range(s.n_frames)]
    if use_videos:
        from dvos_core.extract._checks import training_video

        ids = project.video_ids() if video_ids is None else id_list(video_ids)
        provs = PHASE_PROVENANCES[phase] if provenances is None else tuple(provenances)
        codes = [provenance_code(p) for p in provs]
        for vid in ids:
            # a named test video is refused (all videos, the default, leave the test videos out)
            v = project.video(vid) if video_ids is None else training_video(project, vid, "", _TRAINING_ON_TEST)
            split = {"unassigned": "train"}.get(v.split, v.split)
            if split not in ("train", "val"):
                continue
            prov = v.provenance
            frames = np.flatnonzero(np.isin(prov, codes))
            if quality_min is not None and len(frames):
                q = v.quality[frames]
                bad = (prov[frames] == PSEUDO) & np.isfinite(q) & (q < quality_min)
                frames = frames[~bad]
            samples = [Sample("video", vid, -1, int(t), int(prov[t]), weights.get(int(prov[t]), 1.0)) for t in frames]
            samples = [s for s in samples if s.weight > 0]
            if samples:
                by_split[split][vid] = samples
    return by_split


def split_samples(
    project,
    tau,
    delta,
    phase,
    synthetic_sets=None,
    video_ids=None,
    provenances=None,
    provenance_weights=None,
    pseudo_quality_min=None,
    val_fraction=0.1,
    seed=0,
    real_share=None,
):
    """(train samples, val samples) following the split rules of :meth:`ClipIndex.from_project`; the training
    samples weighted by :func:`with_real_share`."""
    if tau < 0 or delta < 1:
        raise ValueError(f"need tau >= 0 and delta >= 1, got tau={tau}, delta={delta}")
    weights = weights_by_code(provenance_weights)
    by_split = _collect(project, phase, synthetic_sets, video_ids, provenances, weights, pseudo_quality_min)
    train, val = by_split["train"], by_split["val"]
    if not train:
        raise _no_training_samples(project, phase, val)
    if not val and val_fraction > 0:
        _hold_out(train, val, val_fraction, seed)
    flat = lambda d: [s for k in sorted(d) for s in d[k]]  # noqa: E731
    return with_real_share(flat(train), real_share), flat(val)


def config_samples(project, cfg):
    """:func:`split_samples` with a training config's settings (a :class:`~dvos_core.train.TrainConfig`): the samples
    a run of ``cfg`` trains and validates on, or the ValueError saying what to label first."""
    return split_samples(
        project,
        cfg.tau,
        cfg.delta,
        cfg.phase,
        cfg.synthetic_sets,
        cfg.video_ids,
        cfg.provenances,
        cfg.provenance_weights,
        cfg.pseudo_quality_min,
        cfg.val_fraction,
        cfg.seed,
        cfg.real_share,
    )


def _no_training_samples(project, phase: str, val: dict) -> ValueError:
    """The error of a phase with no training sample, with its likely fix: synthetic clips to generate, labelled
    frames that all lie in val videos (they only validate), or frames to label."""
    where = f"{project.path}: no training samples for phase {phase!r}"
    if phase == "synthetic":
        return ValueError(f"{where}; generate synthetic clips first (`dvos synth`)")
    videos = {k: v for k, v in val.items() if v and v[0].kind == "video"}
    if videos:
        from collections import Counter

        from dvos_core.store.schema import PROVENANCE_NAMES

        counts = Counter(PROVENANCE_NAMES.get(s.provenance, "?") for v in videos.values() for s in v)
        n, ids = sum(counts.values()), sorted(videos)
        kinds = ", ".join(f"{c} {k}" for k, c in sorted(counts.items()))
        return ValueError(
            f"{where}: the {n} labelled frame(s) ({kinds}) are all in val videos ({', '.join(ids)}), which only "
            f"validate; make one a training video (`dvos split {quote(project.path)} train {quote(ids[0])}`) or paint "
            f"frames of a training video"
        )
    return ValueError(
        f"{where}; label or pseudo-label some frames first, or check the training config's video_ids and provenances"
    )


def _hold_out(train: dict, val: dict, fraction: float, seed: int) -> None:
    """Move validation sources from ``train`` to ``val``: whole sources of each kind (synthetic clips, real videos)
    that has at least 1/fraction of them; a kind with fewer keeps all of its sources for training (so the one
    painted video of a project is never held out whole), unless no kind has that many: then every source's last
    frames (in time) validate, so no source is lost to training."""
    kinds: dict = {}
    for k in sorted(train):
        kinds.setdefault(train[k][0].kind, []).append(k)
    whole = [keys for keys in kinds.values() if len(keys) * fraction >= 1]
    if whole:
        rng = np.random.default_rng(seed)
        for keys in whole:
            n_val = min(len(keys) - 1, int(round(fraction * len(keys))))
            for k in rng.choice(keys, size=n_val, replace=False):
                val[str(k)] = train.pop(str(k))
        return
    for k in sorted(train):
        train[k], held = _hold_out_tail(train[k], fraction)
        if held:
            val[k] = held


def check_real_share(share: float | None) -> float | None:
    """``share`` itself when it is a valid ``real_share`` (strictly between 0 and 1, or None); else ValueError."""
    if share is not None and not 0 < share < 1:
        raise ValueError(f"real_share must be between 0 and 1 (exclusive), or null (by provenance weight); got {share}")
    return share


def with_real_share(samples: list, share: float | None) -> list:
    """``samples`` reweighted so that frames of real videos get ``share`` of the draws and synthetic frames the rest
    (provenance weights still rank the samples within each kind; the total weight is kept). Unchanged when ``share``
    is None or only one kind is present."""
    if check_real_share(share) is None:
        return samples
    real = sum(s.weight for s in samples if s.kind == "video")
    synthetic = sum(s.weight for s in samples if s.kind != "video")
    if real <= 0 or synthetic <= 0:
        return samples
    total = real + synthetic
    scale = {"video": share * total / real, "synthetic": (1 - share) * total / synthetic}
    return [dataclasses.replace(s, weight=s.weight * scale[s.kind]) for s in samples]


def _hold_out_tail(samples: list, fraction: float) -> tuple[list, list]:
    """Split one source's samples (in time order) into (train, val = its last ``fraction``); the held-out samples'
    references are clamped to the first held-out frame, so no validation clip reads a training frame."""
    n_val = int(math.ceil(fraction * len(samples))) if len(samples) >= 2 else 0
    if not n_val:
        return samples, []
    first = samples[-n_val].t
    train = [dataclasses.replace(s, stop=first) for s in samples[:-n_val]]  # no reference reads a validation frame
    return train, [dataclasses.replace(s, start=first) for s in samples[-n_val:]]
