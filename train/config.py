"""Run configuration of the trainer: typed dataclasses (a docstring per field), the presets
``stage1`` / ``stage2`` (METHOD.md 1.7) and command-line overrides for every field.

    accelerate launch train/train.py --preset stage1 --data.path DIR --out runs/s1 \\
        --optim.lr_g 2e-5 --loss.r1_gamma 1 --steps 10000

Every field can be set as ``--section.field value`` (top-level fields: ``--field value``);
tuples take comma-separated values. Defaults not given by the paper are the parent methods'
(METHOD.md 1.6) or our choices, named here.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path


@dataclasses.dataclass
class DataConfig:
    path: str = ""
    """Dataset folder in the project's format (``aniportrait_hub.data.format``); required."""
    batch_size: int = 8
    """Images per process per step (the global batch is this times the number of processes)."""
    split: str = "train"
    """Records used for training ('train'; held-out identities are never trained on)."""
    loader_threads: int = 2
    """Threads decoding one batch's images (in each loader worker, or in the step with 0 workers)."""
    workers: int = 2
    """``DataLoader`` worker processes preparing the next steps' batches while this one trains
    (0: each batch is loaded inside its step)."""
    prefetch: int = 2
    """Batches each worker prepares ahead."""


@dataclasses.dataclass
class ModelConfig:
    preset: str = "small"
    """Architecture preset of the generator (``aniportrait_hub.models.presets``): 'small' or 'reference'."""
    init_from: str = ""
    """Pipeline folder (``save_pretrained``) whose generator weights start the run; stage 2 needs
    a stage-1 result here."""
    render: dict = dataclasses.field(default_factory=dict)
    """Render-setting overrides (``RenderSettings`` fields), e.g. a coarser pose grid for CPU runs."""
    d_channel_base: int = 4096
    """Discriminator channels per block = min(d_channel_max, d_channel_base / rows)."""
    d_channel_max: int = 256
    """Largest discriminator block width."""
    d_mbstd_group: int = 4
    """Minibatch-std group size (consecutive samples; keep the per-process batch a multiple)."""
    d_camera_conditioning: bool = False
    """Condition the discriminators on the camera (projection; EG3D does, the paper does not say)."""


@dataclasses.dataclass
class LossConfig:
    w_whole: float = 0.1
    """Weight of D_whole's GAN loss (METHOD.md 1.5)."""
    w_face: float = 1.0
    """Weight of D_face's GAN loss."""
    w_torso: float = 0.5
    """Weight of D_torso's GAN loss (lower quarter of the portrait)."""
    r1_gamma: float = 1.0
    """R1 weight gamma (stage 1: 1; SR stage: 5)."""
    r1_interval: int = 1
    """Lazy R1: penalise every this many steps, scaled by it (1 = every step)."""
    imitation: float = 1.0
    """3DMM imitation (Eq. 10): D^e at expressive face points undoes the 3DMM offset (our weight)."""
    pose_smoothness: float = 1.0
    """Pose smoothness (Eq. 11): D^p(T) stays close to AvgPool(T) (our weight)."""
    expression_smoothness: float = 1.0
    """Expression smoothness (Eq. 12): D^e(x) close to D^e(x + delta) (our weight)."""
    smoothness_delta: float = 0.01
    """Std of delta in Eq. 12 (world units; our choice)."""
    minimal_deformation: float = 0.1
    """Minimal expression deformation (Eq. 13): small D^e (our weight)."""
    face_source: str = "face_camera"
    """What D_face sees: 'face_camera' (the dual-camera rendering of METHOD.md 1.5: the face
    camera's own image, real and generated) or 'portrait_crop' (the paper's ablation "without
    the dual camera": the face box cut out of the portrait and resized to the face side, for
    reals and fakes alike; :func:`train.modules.portrait_face_crop`)."""
    landmark: float = 0.0
    """Landmark loss (Eq. 9) through a face-coefficient estimator (0 = off; 1 cm units)."""
    face_estimator: str = ""
    """Folder of the estimator (``FaceCoefficientEstimator.from_pretrained``; trained by
    ``train/face_estimator.py``) the landmark loss reads generated faces with."""


@dataclasses.dataclass
class OptimConfig:
    lr_g: float = 2e-5
    """Generator learning rate (parent methods: 2e-5)."""
    lr_d: float = 2e-4
    """Discriminator learning rate (2e-4)."""
    betas: tuple[float, float] = (0.0, 0.9)
    """Adam betas (0, 0.9)."""
    eps: float = 1e-8
    """Adam epsilon."""
    grad_clip: float = 0.3
    """Gradient-norm clipping of the generator (AniFaceGAN: 0.3; 0 = off)."""
    grad_clip_d: float = 0.0
    """Gradient-norm clipping of the discriminators (0 = off)."""
    ema_decay: float = 0.999
    """EMA decay of the generator (fp32 copy, buffers copied)."""
    ema_rampup: bool = True
    """Decay min(ema_decay, (1 + step) / (10 + step)): early samples follow the generator, not
    its initialisation (our choice, common in GAN code)."""


@dataclasses.dataclass
class TrainConfig:
    stage: int = 1
    """1: portrait and face at low resolution, every sub-network but U; 2: U and the
    high-resolution discriminators from scratch, everything else frozen (from ``model.init_from``)."""
    out: str = "runs/train"
    """Run folder: checkpoints/, pipeline/ (the EMA generator, loadable by AniPortraitGAN),
    samples/ (PNG grids), logs/ (tensorboard)."""
    steps: int = 1000
    """Optimisation steps (one D and one G update each)."""
    resolution: int = 128
    """Portrait side (stage 1: 128; stage 2: 512)."""
    face_resolution: int = 128
    """Face-camera image side (stage 1: 128; stage 2: 256)."""
    seed: int = 0
    """Every step's batch and latents are a function of (seed, step): resuming is exact."""
    mixed_precision: str = ""
    """'no' or 'bf16' (networks but M in bf16 autocast; rendering geometry and compositing stay
    fp32); '' (default): what ``accelerate launch --mixed_precision`` or its config says, else
    'no'. Set here it overrides the launcher."""
    resume: str = ""
    """'' (fresh run; refuses a folder holding checkpoints), 'latest', or a checkpoint folder."""
    log_every: int = 10
    """Steps between scalar logs."""
    sample_every: int = 100
    """Steps between sample grids (fixed latents, EMA generator)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (and at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept (older ones are deleted after a newer one is complete)."""
    num_samples: int = 8
    """Identities in the sample grid."""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        if self.loss.face_source not in ("face_camera", "portrait_crop"):
            raise ValueError(f"loss.face_source must be 'face_camera' or 'portrait_crop', got {self.loss.face_source!r}")
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")
        if not self.data.path:
            raise ValueError("data.path is required: a dataset folder (aniportrait synthesize / prepare)")
        if self.stage == 2 and not self.model.init_from:
            raise ValueError("stage 2 needs model.init_from: the stage-1 pipeline folder (RUN/pipeline)")
        if self.mixed_precision not in ("", "no", "bf16"):
            raise ValueError(f"mixed_precision must be 'no' or 'bf16', got {self.mixed_precision!r}")
        for name in ("steps", "resolution", "face_resolution", "log_every", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("resolution", "face_resolution"):
            v = getattr(self, name)
            if v < 16 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two >= 16 (discriminator blocks halve it), got {v}")
        if self.data.batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {self.data.batch_size}")
        if self.loss.landmark > 0 and not self.loss.face_estimator:
            raise ValueError("loss.landmark > 0 needs loss.face_estimator: a folder written by train/face_estimator.py")
        if self.loss.r1_interval < 1:
            raise ValueError(f"loss.r1_interval must be >= 1, got {self.loss.r1_interval}")


#: Presets (METHOD.md 1.7; reference sizes). Stage 2 also needs model.init_from.
PRESETS: dict[str, dict] = {
    "stage1": {"stage": 1, "resolution": 128, "face_resolution": 128, "loss.r1_gamma": 1.0},
    "stage2": {"stage": 2, "resolution": 512, "face_resolution": 256, "loss.r1_gamma": 5.0},
}


def _convert(value: str, kind):
    origin = typing.get_origin(kind)
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"not a boolean: {value!r}")
        return value.lower() in ("true", "1", "yes")
    if origin is tuple:
        args = typing.get_args(kind)
        parts = [p for p in value.split(",") if p]
        return tuple(_convert(p, args[0]) for p in parts)
    if kind is dict or origin is dict:
        import json

        return json.loads(value)
    return kind(value)


def set_field(cfg: TrainConfig, key: str, value) -> None:
    """Set ``section.field`` (or a top-level field) from a string or a value, type-checked."""
    parts = key.split(".")
    target = cfg
    for p in parts[:-1]:
        if not hasattr(target, p) or not dataclasses.is_dataclass(getattr(target, p)):
            raise ValueError(f"unknown config section {p!r} in {key!r}")
        target = getattr(target, p)
    hints = typing.get_type_hints(type(target))
    name = parts[-1]
    if name not in hints or dataclasses.is_dataclass(hints[name]):
        raise ValueError(f"unknown config field {key!r}")
    setattr(target, name, _convert(value, hints[name]) if isinstance(value, str) else value)


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """``--preset NAME`` then ``--key value`` overrides, applied in order."""
    p = argparse.ArgumentParser(description="AniPortraitGAN trainer (both stages).")
    p.add_argument("--preset", choices=sorted(PRESETS), default="stage1")
    args, rest = p.parse_known_args(argv)
    cfg = TrainConfig()
    for k, v in PRESETS[args.preset].items():
        set_field(cfg, k, v)
    i = 0
    while i < len(rest):
        tok = rest[i]
        if not tok.startswith("--"):
            raise ValueError(f"unexpected argument {tok!r}; overrides are --section.field value")
        if "=" in tok:
            key, value = tok[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                raise ValueError(f"{tok} needs a value")
            key, value = tok[2:], rest[i + 1]
            i += 2
        set_field(cfg, key, value)
    cfg.validate()
    return cfg


def config_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict) -> TrainConfig:
    cfg = TrainConfig()
    for section in ("data", "model", "loss", "optim"):
        for k, v in d.get(section, {}).items():
            set_field(cfg, f"{section}.{k}", tuple(v) if isinstance(v, list) else v)
    for k, v in d.items():
        if k not in ("data", "model", "loss", "optim"):
            set_field(cfg, k, v)
    return cfg


def run_dir(cfg: TrainConfig) -> Path:
    return Path(cfg.out)
