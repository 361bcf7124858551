"""Radiance-map baking and lookup (GRAM-HD; METHOD.md 1.3).

Each manifold is a height field over canonical (x, y). Its radiance is baked once per identity
into a 2D map: orthographic rays along -z over a grid of canonical (x, y) (reference: 128^2 over
x in [-0.22, 0.22], y in [-0.248, 0.192]) meet each manifold at its first downward crossing;
phi is evaluated there with the fixed view direction (0, 0, -1). Map channels: [rgb, alpha,
features]; where a ray misses a manifold, everything is 0. Rendering looks the maps up at the
(x, y) of the canonical intersection. Map rows run from y_min to y_max, columns from x_min to
x_max; lookups use ``grid_sample`` with ``align_corners=True`` on that grid.

Networks run over points in chunks of 4096: the activations of a chunk stay in the CPU's
caches, which made phi 2.9x and M 2.7x faster than 64k-point chunks on this project's machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.fields.manifold import ManifoldPredictor
from aniportrait_hub.fields.radiance import RadianceGenerator, window_grid
from aniportrait_hub.rendering.compositing import sigma_to_alpha
from aniportrait_hub.rendering.intersection import find_crossings


def map_grid(resolution: int, x_range, y_range, device=None, dtype=torch.float32) -> torch.Tensor:
    """Canonical (x, y) of the map texels: [res*res, 2], row-major (rows = y)."""
    xs = torch.linspace(x_range[0], x_range[1], resolution, device=device, dtype=dtype)
    ys = torch.linspace(y_range[0], y_range[1], resolution, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], -1).reshape(-1, 2)


@torch.no_grad()
def manifold_heights(manifold: ManifoldPredictor, resolution: int, x_range, y_range, z_range, z_samples: int,
                     chunk: int = 4096):
    """Where the orthographic rays meet each manifold (identity-independent: M is unconditioned).

    Returns points [res*res, L, 3] and valid [res*res, L].
    """
    p = next(manifold.parameters())
    xy = map_grid(resolution, x_range, y_range, p.device)  # [T, 2]
    z = torch.linspace(z_range[1], z_range[0], z_samples, device=p.device, dtype=torch.float32)  # along -z
    pts = torch.cat([xy[:, None].expand(-1, z_samples, -1), z[None, :, None].expand(xy.shape[0], -1, 1)], -1)
    flat = pts.reshape(-1, 3)
    s = torch.cat([manifold(c) for c in flat.split(chunk)]).view(1, xy.shape[0], z_samples)  # [1, T, Z]
    cr = find_crossings(s, manifold.levels)
    hit = cr.gather(pts.unsqueeze(0))[0]  # [T, L, 3]
    return hit, cr.valid[0]


def bake_radiance_maps(heights: tuple[torch.Tensor, torch.Tensor], radiance: RadianceGenerator, film: FiLMParams,
                       resolution: int | tuple[int, int], chunk: int = 4096) -> torch.Tensor:
    """Evaluate phi on the manifold points of every texel.

    Args:
        heights: (points [T, L, 3], valid [T, L]) from :func:`manifold_heights`.
        film: the identity's radiance FiLM parameters (batch B).
        resolution: the texel grid's side, or (rows, columns) for a window of it.
    Returns:
        maps [B, L, 4 + F, rows, columns].
    """
    pts, valid = heights
    b = film.freqs.shape[0]
    t, n_lv, _ = pts.shape
    flat = pts.reshape(1, -1, 3).expand(b, -1, -1)
    view = flat.new_tensor([0.0, 0.0, -1.0]).expand_as(flat)
    outs = [radiance(p, v, film) for p, v in zip(flat.split(chunk, 1), view.split(chunk, 1))]
    rgb = torch.cat([o.rgb for o in outs], 1)
    alpha = sigma_to_alpha(torch.cat([o.sigma for o in outs], 1)).unsqueeze(-1)
    feats = torch.cat([o.features for o in outs], 1)
    maps = torch.cat([rgb, alpha, feats], -1) * valid.reshape(1, -1, 1).to(rgb.dtype)  # [B, T*L, C]
    rows, cols = (resolution, resolution) if isinstance(resolution, int) else resolution
    maps = maps.view(b, rows, cols, n_lv, -1)
    return maps.permute(0, 3, 4, 1, 2).contiguous()  # [B, L, C, res, res]


def lookup_maps(maps: torch.Tensor, xy: torch.Tensor, x_range, y_range, channels: int = 4) -> torch.Tensor:
    """Bilinear lookup of the first ``channels`` map channels at canonical (x, y).

    Args:
        maps: [B, L, C, h, w]. xy: [B, R, L, 2] canonical coordinates per ray and level.
    Returns:
        [B, R, L, channels]; zero outside the map.
    """
    b, n_lv, c, h, w = maps.shape
    grid = window_grid(xy[..., 0], xy[..., 1], x_range, y_range).permute(0, 2, 1, 3).reshape(b * n_lv, 1, -1, 2)
    src = maps[:, :, :channels].reshape(b * n_lv, channels, h, w)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)  # [B*L, ch, 1, R]
    return out.view(b, n_lv, channels, -1).permute(0, 3, 1, 2)
