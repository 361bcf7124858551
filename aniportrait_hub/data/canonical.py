"""What the synthetic teacher knows in 3D (issue: the embedded default model): a person's
canonical-space surface seen along the radiance maps' baking rays.

The generator's radiance maps (METHOD.md 1.3) hold, per manifold, colour and opacity at the
canonical points where orthographic rays along -z over the map grid meet the manifold. For a
synthetic person the teacher casts those same rays at its canonical mesh (neutral pose, neutral
expression, hair attached; Embree): the first surface hit per texel (its z and its shaded
colour). A manifold point behind that surface (smaller z) is inside the person, in front of it
empty; the colour seen through a texel is the surface colour. Low-resolution texels are
supersampled (``supersample``^2 rays each), so opacity targets are coverages, not aliased.

Lighting is baked in with one fixed light (our choice, ``FIXED_LIGHT``: the mean of the
synthesizer's light directions) -- the generator has no lighting control.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aniportrait_hub.data.raycast import cast, interpolate
from aniportrait_hub.data.synthesize import Person, SyntheticRenderer, shade
from aniportrait_hub.rendering.baking import map_grid
from aniportrait_hub.rendering.renderer import RenderSettings

#: The fixed light direction of canonical colours (unit; the synthesizer's mean direction).
FIXED_LIGHT = np.array([0.0, 0.5, 1.0]) / np.linalg.norm([0.0, 0.5, 1.0])


@dataclasses.dataclass
class CanonicalMaps:
    """One person's surface over the map grid. Rows = y (y_min first), columns = x."""

    z_lr: np.ndarray
    """[S*S, r, r] float16 canonical z of the first hit of each sub-ray (NaN: miss)."""
    rgb_lr: np.ndarray
    """[r, r, 3] float16 mean shaded colour of the hits (0 where none)."""
    z_hr: np.ndarray
    """[R, R] float16 z of the first hit at the high-resolution texels (NaN: miss)."""
    rgb_hr: np.ndarray
    """[R, R, 3] uint8 shaded colour at the high-resolution texels (0 where none)."""


def _cast_grid(scene, xy: np.ndarray, z0: float, light: np.ndarray):
    """Orthographic rays along -z from height z0 at canonical xy [N, 2] -> (z [N], rgb [N, 3])."""
    o = np.concatenate([xy, np.full((xy.shape[0], 1), z0)], 1)
    d = np.tile([0.0, 0.0, -1.0], (xy.shape[0], 1))
    hits = cast(scene.vertices, scene.faces, o, d, (xy.shape[0],))
    albedo = interpolate(hits, scene.faces, scene.colours)
    n = interpolate(hits, scene.faces, scene.normals)
    rgb = shade(albedo, n, light, np.array([0.0, 0.0, 1.0])) * hits.mask[:, None]
    z = np.where(hits.mask, z0 - hits.depth, np.nan)
    return z, rgb


def canonical_maps(renderer: SyntheticRenderer, person: Person, settings: RenderSettings, low_res: int,
                   high_res: int, supersample: int = 4, light: np.ndarray = FIXED_LIGHT) -> CanonicalMaps:
    """The teacher's canonical surface of ``person`` at the low- and high-resolution map texels."""
    sc = renderer.scene(person, canonical=True)
    st = settings
    z0 = st.bake_z_range[1] + 0.3
    # 1. Low resolution: supersampled texels (sub-ray offsets inside each texel's footprint).
    xy = map_grid(low_res, st.map_x_range, st.map_y_range).numpy().astype(np.float64)  # [r*r, 2]
    step = np.array([(st.map_x_range[1] - st.map_x_range[0]) / (low_res - 1),
                     (st.map_y_range[1] - st.map_y_range[0]) / (low_res - 1)])
    k = (np.arange(supersample) + 0.5) / supersample - 0.5
    offs = np.stack(np.meshgrid(k, k, indexing="ij"), -1).reshape(-1, 2)[:, ::-1] * step  # [S*S, 2]
    sub = (xy[None] + offs[:, None]).reshape(-1, 2)
    z, rgb = _cast_grid(sc, sub, z0, light)
    z = z.reshape(len(offs), low_res, low_res)
    hit = np.isfinite(z)
    rgb = rgb.reshape(len(offs), low_res, low_res, 3).sum(0) / np.maximum(hit.sum(0), 1)[..., None]
    # 2. High resolution: one ray per texel.
    xy_hr = map_grid(high_res, st.map_x_range, st.map_y_range).numpy().astype(np.float64)
    z_hr, rgb_hr = _cast_grid(sc, xy_hr, z0, light)
    return CanonicalMaps(z.astype(np.float16), rgb.astype(np.float16),
                         z_hr.reshape(high_res, high_res).astype(np.float16),
                         (rgb_hr.reshape(high_res, high_res, 3) * 255).round().astype(np.uint8))


def coverage(z_front: np.ndarray | "torch.Tensor", z, ramp: float):
    """Opacity target of manifold points at height ``z`` under sub-ray hits ``z_front``
    ([S, ...] with NaN = miss, broadcast against z): the share of sub-rays whose surface lies
    in front of the point, each softened over ``ramp`` world units (a point inside the person
    is opaque, one in front of the surface empty)."""
    import torch

    zf = torch.as_tensor(z_front).float()
    inside = ((zf - z) / ramp + 0.5).clamp(0, 1)
    return torch.nan_to_num(inside, nan=0.0).mean(0)
