"""What the pipeline takes and gives: an identity's latents (:class:`PortraitLatents`) and a
render's output (:class:`AniPortraitOutput`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from diffusers.utils import BaseOutput

from aniportrait_hub.rendering.map_residual import MapResidual


@dataclasses.dataclass
class PortraitLatents:
    """An identity: face identity [B, K], body shape betas [B, 10], appearance noise [B, D]
    (D = ``priors.config.noise_dim``; reference 80, the default model 15).

    ``appearance_face_id`` [B, K] (optional) is the face identity that phi's and U's mappings
    see in place of ``face_id`` (the geometry and phi's plane warp keep ``face_id``). An inverted
    photo needs it: the label fit's face identity of a real face lies near the prior's centre
    (norm ~1 where sampled identities have ~6), a region the mappings never saw, and phi paints
    it in noise; inversion searches an appearance face identity on the prior's shell instead.

    ``film_offset`` [B, 2, L, C] (optional) is added to phi's FiLM frequencies ([:, 0]) and
    phases ([:, 1]) of this identity alone: a photo's person, pivotally tuned
    (:mod:`aniportrait_hub.inversion.tuning`), carries it so no other identity moves.

    ``map_residual`` (optional, :class:`~aniportrait_hub.rendering.map_residual.MapResidual`) is
    added to this identity's baked radiance maps: a photo's own pixels
    (:mod:`aniportrait_hub.inversion.maps`).
    """

    face_id: torch.Tensor
    betas: torch.Tensor
    noise: torch.Tensor
    appearance_face_id: torch.Tensor | None = None
    film_offset: torch.Tensor | None = None
    map_residual: MapResidual | None = None

    def tensors(self) -> tuple:
        """(face_id, betas, noise, appearance_face_id, film_offset), the last two possibly None."""
        return self.face_id, self.betas, self.noise, self.appearance_face_id, self.film_offset

    def to(self, device) -> "PortraitLatents":
        return PortraitLatents(*(None if t is None else t.to(device) for t in self.tensors()),
                               None if self.map_residual is None else self.map_residual.to(device))

    def expand(self, batch: int) -> "PortraitLatents":
        """A batch-1 identity repeated ``batch`` times."""
        return PortraitLatents(*(None if t is None else t.expand(batch, *t.shape[1:]) for t in self.tensors()),
                               None if self.map_residual is None else self.map_residual.expand(batch))


@dataclasses.dataclass
class AniPortraitOutput(BaseOutput):
    """Rendered portraits. ``images`` / ``low_res_images`` / ``face_images``: PIL images, or
    arrays [B, H, W, 3] in [0, 1] (``np``), or tensors [B, 3, H, W] (``pt``); ``depth`` and
    ``mask``: arrays / tensors [B, H, W]."""

    images: list | np.ndarray | torch.Tensor
    low_res_images: list | np.ndarray | torch.Tensor
    depth: np.ndarray | torch.Tensor
    mask: np.ndarray | torch.Tensor
    face_images: list | np.ndarray | torch.Tensor | None
