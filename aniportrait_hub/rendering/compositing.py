"""Compositing of the manifold intersections (METHOD.md 1.3, Eq. 8).

Intersections are sorted by distance; ``C = sum_i T_i alpha_i c_i`` with
``T_i = prod_{k<i} (1 - alpha_k)``; ``alpha = 1 - exp(-0.04 softplus(sigma))`` (reference);
a white background adds ``1 - sum_i w_i``.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from aniportrait_hub.host import on_host

#: Reference scale of the opacity: alpha = 1 - exp(-ALPHA_SCALE * softplus(sigma)).
ALPHA_SCALE = 0.04


def sigma_to_alpha(sigma: torch.Tensor) -> torch.Tensor:
    """Reference opacity of a manifold point."""
    return 1.0 - torch.exp(-ALPHA_SCALE * F.softplus(sigma))


@dataclasses.dataclass
class Composite:
    """image [B, R, C], depth [B, R] (weighted mean distance; background = far), mask [B, R];
    ``weights`` [B, R, L]: each intersection's compositing weight, in the input's level order
    (:func:`composite` only)."""

    image: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    weights: torch.Tensor | None = None


def composite(color: torch.Tensor, alpha: torch.Tensor, dist: torch.Tensor, valid: torch.Tensor,
              background: float = 1.0, far: float | None = None) -> Composite:
    """Front-to-back alpha compositing.

    Args:
        color: [B, R, L, C]; alpha, dist, valid: [B, R, L].
        background: colour added with the remaining transmittance (1 = white).
        far: depth given to the background (default: the largest valid distance).
    """
    alpha = torch.where(valid, alpha, torch.zeros_like(alpha))
    dist_s = torch.where(valid, dist, torch.zeros_like(dist))
    order = None
    if not on_host(dist) or not in_depth_order(dist, valid):
        # Sort by distance (invalid entries, alpha 0, go last). First downward crossings of
        # nested levels usually come in level order already, and then the sort is skipped.
        # stable: entries already in order keep it (the same result as the skipped sort)
        order = torch.where(valid, dist, torch.full_like(dist, float("inf"))).argsort(dim=-1, stable=True)
        alpha = torch.gather(alpha, -1, order)
        dist_s = torch.gather(dist_s, -1, order)
        color = torch.gather(color, 2, order.unsqueeze(-1).expand_as(color))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha[..., :-1]], -1), -1)
    w = trans * alpha  # [B, R, L]
    mask = w.sum(-1)
    image = (w.unsqueeze(-1) * color).sum(-2) + background * (1 - mask).unsqueeze(-1)
    far_d = dist_s.max() if far is None else torch.as_tensor(far, dtype=dist.dtype)
    depth = (w * dist_s).sum(-1) + (1 - mask) * far_d
    if order is not None:  # weights back in level order
        w = torch.empty_like(w).scatter_(-1, order, w)
    return Composite(image, depth, mask, w)


def in_depth_order(dist: torch.Tensor, valid: torch.Tensor) -> bool:
    """Whether every ray's valid entries already have non-decreasing distances along the last
    axis (invalid entries have alpha 0, so where they sit does not matter)."""
    seen = torch.cummax(torch.where(valid, dist, torch.full_like(dist, float("-inf"))), -1).values
    return bool(((~valid[..., 1:]) | (dist[..., 1:] >= seen[..., :-1])).all())


