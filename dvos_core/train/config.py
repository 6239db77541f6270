"""``TrainConfig``: every setting of a training run, loadable from and savable to YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dvos_core.config_io import coerce_fields, dataclass_from_dict, load_config, read_yaml_mapping
from dvos_core.data.augment import AugmentConfig
from dvos_core.data.clips import check_real_share
from dvos_core.train.losses import LossWeights

PHASES = ("image", "synthetic", "real")
VIDEO_MODELS = ("dvos", "context")
ANCHOR_VIEWS = ("clean", "query")
SELECT_BY = ("auto", "val", "last")  # which epoch becomes best.pt (see TrainConfig.selection)
HUMAN_MADE = ("manual", "corrected")  # label provenances a person made: the only ones that choose between epochs
ANCHOR_VIEW = "clean"  # measured against "query" in docs/benchmarks.md (Accuracy, "Anchored to the clean frame")
# model settings a training sets from its own (top-level) ones: a `model:` override of them would be recorded and not
# take effect, so it is refused naming the setting to use
MODEL_KEYS_SET_ABOVE = {"tau": ("tau", None), "input_size": ("size", "--size")}  # {model key: (setting, option)}
ANCHOR_WEIGHT = 10.0  # the context model's anchor loss (measured in docs/benchmarks.md, Accuracy)
# learning rate of a video model's parts inherited from the image model, as a share of lr, when image_lr_scale is null:
# measured for the context model in docs/benchmarks.md (Accuracy, "Inherited parts at 0.3 of the rate"); the paper
# trains every part of its model at one rate
IMAGE_LR_SCALE = {"context": 0.3, "dvos": 1.0}
# share of the image phase's draws given to real labelled frames beside synthetic clips (docs/benchmarks.md, Accuracy)
REAL_SHARE = 0.3
# the largest training size: the paper trains at 384 px on crops of 256-768 px; a size far above it only exhausts the
# memory (a batch of 8 at 100000 px asks for over 100 GB)
MAX_SIZE = 2048
RECIPES = Path(__file__).resolve().parent / "recipes"


def list_recipes() -> list[str]:
    """Names of the shipped training recipes (``dvos train --recipe NAME``)."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def doc(text: str) -> dict:
    """Field metadata holding a setting's one-line help (``field(default=..., metadata=doc("..."))``); it is the
    comment of `dvos train --print-config` and the tooltip of the napari Train step."""
    return {"doc": text}


def field_docs(cls) -> dict[str, str]:
    """{field name: one-line help} of a dataclass config whose fields carry ``metadata["doc"]``."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def check_size(size: int, what: str = "size") -> int:
    """``size`` when it is a usable training / input size in pixels (a positive multiple of 32, at most
    ``MAX_SIZE``); else a ValueError naming ``what``."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 32 or size > MAX_SIZE:
        raise ValueError(
            f"{what} must be a multiple of 32 between 32 and {MAX_SIZE} pixels, got {size!r} (the paper trains at 384)"
        )
    return size


def cosine_floor(lr: float) -> float:
    """The final learning rate that goes with ``lr``: a tenth of it, the paper's ratio (1e-4 -> 1e-5)."""
    return lr / 10


LOSS_WEIGHTS = ("mask_weight", "frame_weight", "bce_weight", "dice_weight", "mse_weight", "ssim_weight")


@dataclass
class TrainConfig:
    """Every setting of a training run; each field's ``metadata["doc"]`` is its one-line help."""

    phase: str = field(
        default="synthetic",
        metadata=doc(
            "image (FrameNet, QAI) | synthetic (DVOSNet on synthetic clips) | real (pseudo-labelled + corrected)"
        ),
    )
    preset: str = field(
        default="small",
        metadata=doc(
            "model preset: paper (92.7M, GPU) | small (2.3M, CPU) | tiny (tests); with init_from the checkpoint's "
            "(the run's config.yaml records it; dvos train says when a --preset given is not used)"
        ),
    )
    epochs: int = field(
        default=15,
        metadata=doc("number of epochs (the cosine schedule steps once per epoch: each epoch trains at one rate)"),
    )
    batch_size: int = field(default=8, metadata=doc("clips per step and per process (GPU/rank)"))
    lr: float = field(default=1e-4, metadata=doc("AdamW learning rate: the first epoch's"))
    image_lr_scale: float | None = field(
        default=None,
        metadata=doc(
            "video models: learning rate of the parts inherited from the image model (encoder, decoder, heads) as a "
            "share of lr and eta_min; their new blocks train at lr (1 = one rate; null = 0.3 for the context model, "
            "1 for dvos, as the paper)"
        ),
    )
    weight_decay: float = field(default=1e-5, metadata=doc("AdamW weight decay"))
    eta_min: float | None = field(
        default=None,
        metadata=doc(
            "floor of the cosine schedule (null = a tenth of lr, 1e-5 at the default lr); the rate steps once per "
            "epoch and reaches the floor only after the last, so the last epoch trains above it (1 epoch: at lr, "
            "the floor has no effect; 2: halfway)"
        ),
    )
    size: int | None = field(
        default=None,
        metadata=doc(
            f"training size in pixels (a multiple of 32 up to {MAX_SIZE}; null = the input size of the preset or of "
            "init_from's model, 384 for paper); crops of 256-768 px are resized to it"
        ),
    )
    video_model: str = field(
        default="dvos",
        metadata=doc(
            "video model of the synthetic/real phases: dvos (the paper's: tau earlier frames, never frame t) | "
            "context (frame t plus its aligned earlier frames and their masks; starts as the image model)"
        ),
    )
    tau: int = field(default=4, metadata=doc("number of reference frames (video model)"))
    delta: int = field(default=1, metadata=doc("frame interval between the references and the query"))
    init_from: str | None = field(
        default=None,
        metadata=doc("checkpoint to start from: a frame model for 'synthetic', the phase-1 DVOS model for 'real'"),
    )
    synthetic_sets: list | None = field(
        default=None, metadata=doc("synthetic set names to use (null = all; in phase 'real' only the named ones)")
    )
    video_ids: list | None = field(
        default=None,
        metadata=doc("videos to use (null = all train/unassigned and val videos; a test video is refused)"),
    )
    provenances: list | None = field(
        default=None, metadata=doc("mask provenances used as labels (null = manual, corrected, pseudo)")
    )
    provenance_weights: dict = field(
        default_factory=lambda: {"manual": 3.0, "corrected": 3.0, "pseudo": 1.0, "synthetic": 1.0},
        metadata=doc("sampling weight of a clip by its query mask's provenance"),
    )
    pseudo_quality_min: float | None = field(
        default=None,
        metadata=doc("drop pseudo-labelled frames whose quality score (0-1) is below this (null = keep all)"),
    )
    real_share: float | None = field(
        default=REAL_SHARE,
        metadata=doc(
            "share of the training draws that go to real videos' labelled frames when a phase mixes them with "
            "synthetic clips (the image phase): a handful of painted frames would otherwise be a few percent of the "
            "samples; 0-1 exclusive, null = by provenance weight alone"
        ),
    )
    mask_weight: float = field(default=1.0, metadata=doc("task weight of the mask loss (BCE + soft Dice)"))
    frame_weight: float = field(
        default=1.0, metadata=doc("task weight of the frame reconstruction loss (MSE + 1 - SSIM)")
    )
    bce_weight: float = field(default=1.0, metadata=doc("weight of BCE inside the mask loss"))
    dice_weight: float = field(default=1.0, metadata=doc("weight of soft Dice inside the mask loss"))
    mse_weight: float = field(default=1.0, metadata=doc("weight of MSE inside the frame loss"))
    ssim_weight: float = field(default=1.0, metadata=doc("weight of (1 - SSIM) inside the frame loss"))
    anchor_weight: float = field(
        default=ANCHOR_WEIGHT,
        metadata=doc(
            "context model: weight of the anchor loss (on a clean query frame its mask must be the one it gets from "
            "that frame alone, so references cannot widen what the frame shows; 0 = off)"
        ),
    )
    frame_anchor_weight: float = field(
        default=0.0,
        metadata=doc(
            "image model trained with degraded inputs (augment degrade_p > 0): weight of its clean-view anchor - its "
            "mask on a degraded frame held to its mask on the same frame undegraded, which learns from the label "
            "(the context model's anchor_view 'clean'; one more encoder pass per step; 0 = off)"
        ),
    )
    anchor_view: str = field(
        default=ANCHOR_VIEW,
        metadata=doc(
            "context model: what its anchor holds it to - 'clean': the mask of the query before it was degraded, on "
            "every sample (one more encoder pass); 'query': the mask of the query frame alone, on clean queries only"
        ),
    )
    samples_per_epoch: int | None = field(
        default=None, metadata=doc("clips drawn per epoch, at least 1 (null = the number of training samples)")
    )
    max_steps_per_epoch: int | None = field(
        default=None,
        metadata=doc(
            "cap on optimizer steps per epoch (null or 0 = no cap, as `dvos train --max-steps-per-epoch 0`; "
            "0 is stored as null)"
        ),
    )
    val_fraction: float = field(
        default=0.1, metadata=doc("fraction of training sources held out when no val-split data exists")
    )
    select_by: str = field(
        default="auto",
        metadata=doc(
            "which epoch's weights become best.pt: 'val' the best validation Dice; 'last' the last epoch; 'auto' "
            "validation, except for a run that starts from a checkpoint and validates on no person-made label "
            "(only pseudo, predicted or synthetic ones): model-made labels favour the epochs nearest the model that "
            "made them, synthetic clips measure the synthetic domain, not the footage, so the last is kept"
        ),
    )
    grad_clip: float | None = field(default=1.0, metadata=doc("clip the gradient norm to this (null = off)"))
    num_workers: int | None = field(
        default=None,
        metadata=doc(
            "DataLoader worker processes (null = automatic: none on a CPU, where they take cores from the training "
            "itself, nor on an Apple MPS GPU; on a CUDA GPU up to 4, one core kept per training process)"
        ),
    )
    seed: int = field(default=123, metadata=doc("random seed (model init, sampling, augmentation)"))
    device: str = field(default="auto", metadata=doc("auto | cuda | cuda:N | mps | cpu"))
    amp: bool = field(
        default=True,
        metadata=doc(
            "bf16 autocast where precision gives it (auto: CUDA GPUs that have it; bf16: also a CPU with native "
            "bfloat16); false: float32 everywhere, whatever precision says"
        ),
    )
    precision: str = field(
        default="auto",
        metadata=doc(
            "number format with amp on (amp false trains fp32): auto (bf16 on CUDA GPUs that have it, else fp32), "
            "fp32, or bf16 (also on a CPU with native bfloat16, AVX512-BF16 or AMX: faster steps there)"
        ),
    )
    compile: bool = field(
        default=False, metadata=doc("torch.compile the model (CUDA only; slower start, faster steps)")
    )
    model: dict = field(
        default_factory=dict,
        metadata=doc(
            "overrides of the preset's ModelConfig fields, e.g. {dropout: 0.3}; tau and input_size are the run's "
            "own tau and size, set there"
        ),
    )
    augment: dict = field(default_factory=dict, metadata=doc("augmentation settings (see AugmentConfig)"))

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        coerce_fields(self)  # types and finite numbers, whatever door the values came through (config_io)
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")
        if self.video_model not in VIDEO_MODELS:
            raise ValueError(f"video_model must be one of {VIDEO_MODELS}, got {self.video_model!r}")
        if self.size is not None:
            check_size(self.size, "size (--size)")
        for name in ("epochs", "batch_size", "tau", "delta"):
            if int(getattr(self, name)) < 1:
                option = f" (--{name.replace('_', '-')})" if name in ("epochs", "batch_size") else ""
                raise ValueError(f"{name}{option} must be >= 1, got {getattr(self, name)}")
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise ValueError(
                f"samples_per_epoch must be at least 1 (or null for the number of training samples), got "
                f"{self.samples_per_epoch}"
            )
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 0:
            raise ValueError(
                f"max_steps_per_epoch (--max-steps-per-epoch) must be at least 1, or 0 / null for no cap; got "
                f"{self.max_steps_per_epoch}"
            )
        if self.max_steps_per_epoch == 0:  # no cap, as on the command line: recorded as null (one spelling)
            self.max_steps_per_epoch = None
        if self.pseudo_quality_min is not None and not 0 <= self.pseudo_quality_min <= 1:
            raise ValueError(
                f"pseudo_quality_min (--pseudo-quality-min) is a quality score between 0 and 1 (or null to keep "
                f"every pseudo-label), got {self.pseudo_quality_min}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed (--seed) must be >= 0, got {self.seed!r}; use 0 or a positive number")
        if not isinstance(self.device, str) or not self.device.strip():
            raise ValueError(f"device (--device) must be one of auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 (or null for automatic), got {self.num_workers}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("anchor_weight", "frame_anchor_weight", *LOSS_WEIGHTS, "weight_decay"):
            if getattr(self, name) < 0:  # a negative weight trains the model to raise that loss
                raise ValueError(f"{name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if self.mask_weight + (0 if self.phase == "image" else self.frame_weight) <= 0:
            raise ValueError(
                "mask_weight and frame_weight are both 0 (the image model learns the mask alone: mask_weight): "
                "nothing would be learnt; give the mask loss a weight above 0"
            )
        if self.grad_clip is not None and self.grad_clip < 0:  # a negative bound flips every gradient
            raise ValueError(f"grad_clip must be > 0, or 0 / null for no clipping, got {self.grad_clip}")
        from dvos_core.prediction_options import check_precision

        check_precision(self.precision)
        if self.select_by not in SELECT_BY:
            raise ValueError(f"select_by must be one of {SELECT_BY}, got {self.select_by!r}")
        if self.anchor_view not in ANCHOR_VIEWS:
            raise ValueError(f"anchor_view must be one of {ANCHOR_VIEWS}, got {self.anchor_view!r}")
        check_real_share(self.real_share)
        if self.image_lr_scale is not None and not 0 < self.image_lr_scale <= 1:
            raise ValueError(f"image_lr_scale must be in (0, 1], got {self.image_lr_scale}")
        if self.lr <= 0 or (self.eta_min is not None and self.eta_min < 0):
            raise ValueError(
                f"need lr (--lr) > 0 and eta_min (--eta-min) >= 0, got lr={self.lr}, eta_min={self.eta_min}"
            )
        unknown = set(self.augment) - {f.name for f in dataclasses.fields(AugmentConfig)}
        if unknown:
            raise ValueError(f"unknown augment keys {sorted(unknown)}; see dvos_core.data.AugmentConfig")
        self.augment_config()  # checks the augment values' types now, not when training starts
        self._check_provenance_weights()
        self._check_preset()
        self._check_model_overrides()

    def _check_provenance_weights(self) -> None:
        """Negative weights, unknown provenance names and weights that leave the phase nothing to draw (each
        provenance it trains on at 0) fail now, not at the first training step."""
        from dvos_core.data.clips import PHASE_PROVENANCES, weights_by_code
        from dvos_core.store.schema import provenance_code

        weights = weights_by_code(self.provenance_weights)  # the defaults with these over them; refuses a negative
        drawn = ["synthetic"] if self.synthetic_sets or (self.synthetic_sets is None and self.phase != "real") else []
        if self.phase != "synthetic":
            drawn += PHASE_PROVENANCES[self.phase] if self.provenances is None else list(self.provenances)
        if drawn and all(weights.get(provenance_code(p), 1.0) == 0 for p in drawn):
            raise ValueError(
                f"provenance_weights give weight 0 to every provenance the {self.phase} phase trains on "
                f"({', '.join(map(str, drawn))}): no training sample could be drawn; raise one of them above 0, e.g. "
                f"provenance_weights: {{{drawn[0]}: 1}}"
            )

    def _check_preset(self) -> None:
        """An unknown preset fails now when it would build the model (without ``init_from``, which fixes it)."""
        from dvos_core.model.presets import PRESETS, list_presets

        if not self.init_from and self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; choose one of {list_presets()}")

    def _check_model_overrides(self) -> None:
        """Unknown or invalid ``model`` keys fail now, naming the key, not when the model is built (the values are
        checked on the preset's config, or on ``small``'s when ``init_from`` fixes the model: its checkpoint is not
        read here)."""
        from dvos_core.model.presets import PRESETS, ModelConfig, get_config

        if not self.model:
            return
        unknown = set(self.model) - {f.name for f in dataclasses.fields(ModelConfig)}
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; see dvos_core.model.ModelConfig")
        for key, (top, option) in MODEL_KEYS_SET_ABOVE.items():  # one place for each: the run's own setting trains
            if key in self.model:
                value = self.model[key]
                raise ValueError(
                    f"model.{key} ({value}) is set by the training config's own {top}: write {top}: {value} at the top "
                    f"level{f' (or pass {option} {value})' if option else ''}, not under model:"
                )
        try:
            get_config(self.preset if self.preset in PRESETS else "small", **self.model)
        except (TypeError, ValueError) as e:
            raise ValueError(f"model overrides {self.model}: {e}") from None
        dropout = self.model.get("dropout")
        if dropout is not None and not 0 <= float(dropout) < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout}")

    def unused_settings(self, device_type: str) -> list[str]:
        """The settings given (away from their defaults) that this run, on a ``device_type`` device, does not use,
        each with its option and where it applies; :func:`dvos_core.train.train` warns of them."""
        unused = []
        if self.phase == "synthetic" and self.pseudo_quality_min is not None:
            unused.append(
                f"pseudo_quality_min {self.pseudo_quality_min:g} (--pseudo-quality-min: the image and real phases, "
                "which train on pseudo-labels)"
            )
        mixes = self.phase == "image" or (self.phase == "real" and bool(self.synthetic_sets))
        if not mixes and self.real_share != REAL_SHARE:
            share = "off" if self.real_share is None else f"{self.real_share:g}"
            unused.append(
                f"real_share {share} (--real-share: the image phase, or a real phase given synthetic_sets, which mix "
                "real frames with synthetic clips)"
            )
        if self.compile and device_type != "cuda":
            unused.append(f"compile (CUDA only; this run is on {device_type})")
        if self.precision == "bf16" and not self.amp:
            unused.append("precision bf16 (--precision): amp is false, so the run trains in float32 (set amp: true)")
        return unused

    def selection(self, val_provenance: dict) -> tuple[str, str]:
        """How best.pt is chosen, ``("val" | "last", why)``, given the validation samples' counts per label
        provenance (``ClipIndex.summary()["provenance"]``)."""
        total = sum(val_provenance.values())
        if not total and self.select_by != "last":  # nothing to validate on: the lowest training loss chooses
            return "val", "no validation samples, so best.pt is the epoch of the lowest training loss"
        if self.select_by != "auto":
            return self.select_by, f"select_by: {self.select_by}"
        human = sum(val_provenance.get(k, 0) for k in HUMAN_MADE)
        if self.init_from and total and not human:
            synthetic = val_provenance.get("synthetic", 0)
            why = (
                "every validation sample is a synthetic clip: it scores the synthetic domain, where a fine-tuning "
                "run's epochs differ by noise, not the footage"
                if synthetic == total
                else "no validation label was made by a person (pseudo/predicted/synthetic only): model-made labels "
                "favour the epochs nearest the model that made them"
            )
            return "last", f"{why}, so best.pt is the last epoch"
        return "val", "best validation Dice"

    @property
    def kind(self) -> str:
        return "frame" if self.phase == "image" else self.video_model

    def inherited_lr_scale(self) -> float:
        """The share of ``lr`` the parts inherited from the image model train at (1 for the image model itself)."""
        if self.kind == "frame":
            return 1.0
        return IMAGE_LR_SCALE[self.kind] if self.image_lr_scale is None else self.image_lr_scale

    def loss_weights(self) -> LossWeights:
        return LossWeights(
            self.mask_weight,
            self.frame_weight,
            self.bce_weight,
            self.dice_weight,
            self.mse_weight,
            self.ssim_weight,
            self._anchor_weight(),
        )

    def _anchor_weight(self) -> float:
        """The anchor loss's weight for this run's model: the context model's, or the image model's clean-view
        anchor when its inputs are degraded (without degraded inputs the clean view is the input itself)."""
        if self.kind == "context":
            return self.anchor_weight
        if self.kind == "frame" and float(self.augment.get("degrade_p", 0.0)) > 0:
            return self.frame_anchor_weight
        return 0.0

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig(**self.augment)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_lr(self, lr: float, eta_min: float | None = None) -> TrainConfig:
        """A copy with learning rate ``lr`` and cosine floor ``eta_min`` (default None: a tenth of ``lr``)."""
        return dataclasses.replace(self, lr=lr, eta_min=eta_min)

    def final_lr(self) -> float:
        """The cosine schedule's floor, reached after the last epoch (the last epoch trains above it): ``eta_min``,
        or a tenth of ``lr`` where it is None (left unset, whatever door the config came through: Python, a config
        file, ``replace``, the command line)."""
        return cosine_floor(self.lr) if self.eta_min is None else self.eta_min

    # ---- recipes ----------------------------------------------------------------------------------------------
    @classmethod
    def from_recipe(cls, name: str, phase: str) -> TrainConfig:
        """The settings of a shipped recipe (``dvos_core/train/recipes/NAME.yaml``) for one phase."""
        path = RECIPES / f"{name}.yaml"
        if name not in list_recipes():
            raise ValueError(f"unknown training recipe {name!r}; recipes: {list_recipes()}")
        data = read_yaml_mapping(path, "training recipe", "reinstall dvos")
        settings = dict(data.get("common") or {})
        settings.update((data.get("phases") or {}).get(phase) or {})
        settings["phase"] = phase
        try:
            return cls.from_dict(settings)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e

    # ---- YAML -------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return dataclass_from_dict(cls, d, "training config keys", "`dvos train --print-config` lists them")

    @classmethod
    def from_yaml(cls, path, phase: str | None = None) -> TrainConfig:
        """The config in YAML file ``path``; ``phase`` (the command line's --phase) over the file's, so the checks
        that depend on the phase (the provenances it draws) are made for the phase that trains."""
        build = None if phase is None else (lambda data: cls.from_dict({**data, "phase": phase}))
        return load_config(cls, path, "training config", "write one with `dvos train --print-config`", build)

    def to_yaml(self, path=None, comments: bool = False) -> str:
        """The config as YAML (with one comment line per field when ``comments``); written to ``path`` if given."""
        d = self.to_dict()
        if not comments:
            text = yaml.safe_dump(d, sort_keys=False)
        else:
            lines = ["# dvos training configuration (dvos train PROJECT --config this.yaml)"]
            docs = field_docs(type(self))
            for k, v in d.items():
                lines.append(f"# {docs.get(k, '')}")
                dumped = yaml.safe_dump({k: v}, sort_keys=False, default_flow_style=False).rstrip()
                lines.append(dumped)
            if not self.augment:
                lines.append(
                    "# augment keys and defaults: "
                    + ", ".join(f"{k}={v}" for k, v in AugmentConfig().to_dict().items())
                )
            text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text
