"""What the renderer keeps per identity (:class:`IdentityCache`) and gives per frame
(:class:`RenderOutput`)."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class IdentityCache:
    """Everything per identity a frame needs. B = identities, L = manifolds."""

    face_id: torch.Tensor
    """[B, K] face identity coefficients."""
    betas: torch.Tensor
    """[B, 10] body shape."""
    noise: torch.Tensor
    """[B, 80] appearance noise eps."""
    maps_lr: torch.Tensor
    """[B, L, 4 + F, h, w] baked radiance maps (rgb, alpha, features)."""
    maps_hr: torch.Tensor
    """[B, L, 4, H, W] super-resolved maps (rgb, alpha)."""


@dataclasses.dataclass
class RenderOutput:
    """One frame. Images in [0, 1], channels first."""

    image: torch.Tensor
    """[B, 3, H, W] from the super-resolved maps."""
    low_res_image: torch.Tensor | None
    """[B, 3, h, w] from the baked maps, at the geometry resolution (None when the render was
    asked not to make it)."""
    depth: torch.Tensor
    """[B, 1, H, W] distance along the ray (world units)."""
    mask: torch.Tensor
    """[B, 1, H, W] accumulated opacity."""
    face_image: torch.Tensor | None
    """[B, 3, Hf, Wf] the face-camera image."""
