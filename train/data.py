"""Training data: real images, their face-camera images, and the label dictionaries the
generator's conditions are drawn from (METHOD.md 1.2, 1.7).

Batches are a function of (seed, step) only (no shuffling state), so a resumed run sees exactly
the batches it would have seen, and a batch split over processes is the union batch of one
process: rank r takes rows [r*b, (r+1)*b) of the step's global batch.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from aniportrait_hub.data.format import Dataset, DatasetError, open_dataset


@dataclasses.dataclass
class RealBatch:
    """Images in [0, 1] on white, channels first."""

    image: torch.Tensor
    """[B, 3, R, R] the portrait."""
    face: torch.Tensor
    """[B, 3, Rf, Rf] the face-camera image (from the dataset, never resampled from a render)."""
    camera: torch.Tensor
    """[B, 2] its camera label (for camera-conditioned discriminators)."""


@dataclasses.dataclass
class Conditions:
    """What the generator renders: drawn from the label dictionaries."""

    face_id: torch.Tensor
    betas: torch.Tensor
    noise: torch.Tensor
    expression: torch.Tensor
    joint_eulers: torch.Tensor
    camera: torch.Tensor

    def slice(self, lo: int, hi: int) -> "Conditions":
        return Conditions(*(getattr(self, f.name)[lo:hi] for f in dataclasses.fields(self)))


@dataclasses.dataclass
class RegPoints:
    """Random points of the stage-1 regularisers (drawn for the global batch, then sliced)."""

    face_vertices: torch.Tensor
    """[N] indices into the face model's body vertices (shared by the batch; Eq. 10)."""
    box: torch.Tensor
    """[B, N, 3] points of D^e's support box, in [-1, 1] box units (Eq. 12-13)."""
    delta: torch.Tensor
    """[B, N, 3] the perturbation of Eq. 12 (world units)."""

    def slice(self, lo: int, hi: int) -> "RegPoints":
        return RegPoints(self.face_vertices, self.box[lo:hi], self.delta[lo:hi])


def regulariser_points(seed: int, step: int, global_batch: int, num_face_vertices: int, delta_std: float,
                       num_points: int = 512) -> RegPoints:
    g = step_generator(seed, step, 2)
    return RegPoints(torch.randint(num_face_vertices, (num_points,), generator=g),
                     torch.rand(global_batch, num_points, 3, generator=g) * 2 - 1,
                     torch.randn(global_batch, num_points, 3, generator=g) * delta_std)


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """The generator of one step's randomness (``stream`` separates real / fake / regulariser draws)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 16 + stream)


class TrainingData:
    """Validated dataset, images loaded on demand at the training resolutions."""

    def __init__(self, path: str, split: str, resolution: int, face_resolution: int, threads: int = 2):
        ds = open_dataset(path)  # raises DatasetError listing every bad file / label
        self.ds: Dataset = ds
        self.records = ds.split(split)
        if not self.records:
            raise DatasetError(f"{path}: no records in split {split!r}")
        missing = [r.name for r in self.records if not ds.face_path(r).is_file()]
        if missing:
            raise DatasetError(f"{path}: {len(missing)} record(s) have no face-camera image (face/NAME.png), e.g. "
                               f"{missing[:5]}; D_face needs them")
        self.resolution, self.face_resolution = resolution, face_resolution
        self.threads = max(1, threads)
        self._pool = None  # made in the process that loads (a DataLoader worker is a fork)
        arr = ds.arrays(split)
        # Label dictionaries: identity rows (face id + betas), expression rows, pose + camera rows.
        self.face_id = torch.as_tensor(arr["face_id"])
        self.betas = torch.as_tensor(arr["betas"])
        self.expression = torch.as_tensor(arr["expression"])
        self.joint_eulers = torch.as_tensor(arr["joint_eulers"])
        self.camera = torch.as_tensor(arr["camera"])

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        rec = self.records[i]
        rgba = self.ds.load_rgba(rec).astype(np.float32) / 255.0
        rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # on white, as the renderer composites
        img = Image.fromarray((rgb * 255).round().astype(np.uint8))
        if img.size[0] != self.resolution:
            img = img.resize((self.resolution, self.resolution), Image.LANCZOS)
        face = Image.open(self.ds.face_path(rec)).convert("RGB")
        if face.size[0] != self.face_resolution:
            face = face.resize((self.face_resolution, self.face_resolution), Image.LANCZOS)
        return np.asarray(img), np.asarray(face)

    def real_batch(self, seed: int, step: int, global_batch: int, lo: int, hi: int) -> RealBatch:
        """Rows [lo, hi) of step ``step``'s global batch of real images."""
        idx = torch.randint(len(self.records), (global_batch,), generator=step_generator(seed, step, 0))[lo:hi].tolist()
        if self._pool is None or self._pool[0] != os.getpid():
            self._pool = (os.getpid(), ThreadPoolExecutor(self.threads))
        loaded = list(self._pool[1].map(self._load, idx))
        img = torch.as_tensor(np.stack([a for a, _ in loaded])).permute(0, 3, 1, 2).float() / 255
        face = torch.as_tensor(np.stack([f for _, f in loaded])).permute(0, 3, 1, 2).float() / 255
        return RealBatch(img, face, self.camera[idx])

    def conditions(self, seed: int, step: int, global_batch: int, noise_dim: int, stream: int = 1) -> Conditions:
        """The step's generator conditions (global batch): identity, expression and pose+camera
        rows drawn independently from the dictionaries, noise ~ N(0, I)."""
        g = step_generator(seed, step, stream)
        n = len(self.records)
        i_id, i_exp, i_pose = (torch.randint(n, (global_batch,), generator=g) for _ in range(3))
        return Conditions(self.face_id[i_id], self.betas[i_id], torch.randn(global_batch, noise_dim, generator=g),
                          self.expression[i_exp], self.joint_eulers[i_pose], self.camera[i_pose])


class StepBatches(torch.utils.data.Dataset):
    """Item ``step``: one process's rows [lo, hi) of that step's real batch and generator
    conditions, as a dict of tensors (what a ``DataLoader`` pins and a worker sends): keys
    ``real_image``, ``real_face``, ``real_camera`` (the real batch) and the :class:`Conditions`
    fields.
    A function of (seed, step), so a resumed run and a run without workers see the same."""

    def __init__(self, data: TrainingData, seed: int, global_batch: int, lo: int, hi: int, noise_dim: int):
        self.data, self.seed, self.global_batch, self.lo, self.hi = data, seed, global_batch, lo, hi
        self.noise_dim = noise_dim

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        real = self.data.real_batch(self.seed, step, self.global_batch, self.lo, self.hi)
        cond = self.data.conditions(self.seed, step, self.global_batch, self.noise_dim).slice(self.lo, self.hi)
        return {"real_image": real.image, "real_face": real.face, "real_camera": real.camera,
                **{f.name: getattr(cond, f.name) for f in dataclasses.fields(cond)}}
