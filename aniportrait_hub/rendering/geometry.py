"""The fast path of a frame's geometry (:class:`FastGeometry`): ray samples, skinning, D^p,
inverse LBS and D^e on the coarse frustum grid (``pose_grid``), canonical coordinates
interpolated at the samples, M from its canonical grid (:class:`FieldGrid`), first crossings
(:class:`Geometry`). The reference path is :mod:`.reference`."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from aniportrait_hub.body.body_model import BodyOutput
from aniportrait_hub.body.skinning import apply_inverse_transforms, inverse_skinning
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.host import on_host
from aniportrait_hub.rendering.cameras import Camera, camera_rays
from aniportrait_hub.rendering.intersection import find_crossings


@dataclasses.dataclass
class Geometry:
    """Intersections of a camera's rays: canonical xy [B, R, L, 2], distance and validity
    [B, R, L]; canonical z [B, R, L] where known (not after upsampling)."""

    xy: torch.Tensor
    dist: torch.Tensor
    valid: torch.Tensor
    resolution: int
    z: torch.Tensor | None = None
    cavity: torch.Tensor | None = None
    """[B, R] share of the ray whose first face hit is the mouth interior
    (:attr:`RenderSettings.mouth_cavity`; None: no such ray)."""

    def upsample(self, resolution: int) -> "Geometry":
        """Bilinear upsampling of valid intersections (validity-weighted, so misses never
        blend into hits); the validity fraction becomes a soft coverage."""
        b, r, n_lv, _ = self.xy.shape
        h = self.resolution

        def img(x):  # [B, R, L, C] -> [B, L*C, h, h]
            return x.view(b, h, h, -1).permute(0, 3, 1, 2)

        v = self.valid.to(self.xy.dtype).unsqueeze(-1)
        stack = torch.cat([img(self.xy * v), img(self.dist.unsqueeze(-1) * v), img(v)], 1)
        up = F.interpolate(stack, size=(resolution, resolution), mode="bilinear", align_corners=False)
        up = up.permute(0, 2, 3, 1).reshape(b, resolution * resolution, -1)
        xy = up[..., : 2 * n_lv].view(b, -1, n_lv, 2)
        dist = up[..., 2 * n_lv: 3 * n_lv]
        cover = up[..., 3 * n_lv:]
        safe = cover.clamp_min(1e-6)
        return Geometry(xy / safe.unsqueeze(-1), dist / safe, cover, resolution,
                        cavity=self.cavity_at(resolution))

    def cavity_at(self, resolution: int) -> torch.Tensor | None:
        """:attr:`cavity` bilinearly resampled to ``resolution`` [B, resolution^2] (None stays None)."""
        if self.cavity is None or resolution == self.resolution:
            return self.cavity
        h = self.resolution
        img = self.cavity.view(-1, 1, h, h)
        up = F.interpolate(img, size=(resolution, resolution), mode="bilinear", align_corners=False)
        return up.view(img.shape[0], -1)


@dataclasses.dataclass
class FieldGrid:
    """M sampled on a canonical grid: ``values`` [1, 1, G, G, G] (z, y, x order) over ``bounds``."""

    values: torch.Tensor
    bounds: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]

    def lookup(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trilinear s at points [B, N, 3] -> (s [B, N], inside-the-grid [B, N])."""
        lo = points.new_tensor([b[0] for b in self.bounds])
        hi = points.new_tensor([b[1] for b in self.bounds])
        g = (points - lo) / (hi - lo) * 2 - 1
        inside = (g.abs() <= 1).all(-1)
        b = points.shape[0]
        out = F.grid_sample(self.values.expand(b, -1, -1, -1, -1), g.view(b, 1, 1, -1, 3), mode="bilinear",
                            padding_mode="border", align_corners=True)
        return out.view(b, -1), inside


class FastGeometry:
    """The fast path of :class:`~aniportrait_hub.rendering.renderer.PortraitRenderer` (a mixin
    over its ``settings``, ``body``, ``manifold``, ``pose_deformer`` and ``expression_deformer``)."""

    def geometry(self, cam: Camera, center: float, half_depth: float, res: int, body_out: BodyOutput,
                 exp_film: FiLMParams, fast: bool, field: FieldGrid | None) -> Geometry:
        """Intersections of the camera's res x res rays with the deformed manifolds (fast path
        with ``field`` None: M is evaluated at the samples, not read from its grid; reference
        path: :meth:`_reference_geometry_in_bands`)."""
        st = self.settings
        if not fast:
            return self._reference_geometry_in_bands(cam, center, half_depth, res, body_out, exp_film)
        s_n = st.samples_per_ray
        # 1. Ray samples in the posed (target) space.
        o, d = camera_rays(cam, res, res)  # [B, R, 3]
        t = torch.linspace(center - half_depth, center + half_depth, s_n, dtype=o.dtype, device=o.device)
        x_t = o.unsqueeze(2) + d.unsqueeze(2) * t.view(1, 1, -1, 1)  # [B, R, S, 3]
        usable = self._near_body(x_t, body_out)
        # 2-3. Canonical coordinates from the coarse frustum grid, 4. M from its grid.
        with record_function("geometry/deform_grid"):
            x_c, cavity = self._grid_canonical(cam, center, half_depth, res, body_out, exp_film)  # [B, R, S, 3]
        with record_function("geometry/field"):
            if field is not None:
                s, in_grid = field.lookup(x_c.view(x_c.shape[0], -1, 3))
                s, usable = s.view(usable.shape), usable & in_grid.view(usable.shape)
            elif not on_host(x_c):  # M at every sample (unusable ones are masked by find_crossings)
                s = torch.where(usable, self.manifold(x_c.reshape(-1, 3)).view(usable.shape).to(x_c.dtype), 0.0)
            else:  # M itself at the usable samples (differentiable: the direct path)
                s = x_c.new_zeros(usable.shape)
                s = s.masked_scatter(usable, self.manifold(x_c[usable]).to(s.dtype))
        # 5. First downward crossings, interpolated canonical xy and distance.
        with record_function("geometry/crossings"):
            cr = find_crossings(s, self.manifold.levels, usable)
            xyz = cr.gather(x_c)  # [B, R, L, 3]
            dist = cr.gather(t.view(1, 1, -1, 1).expand(*x_c.shape[:3], 1))[..., 0]
        return Geometry(xyz[..., :2], dist, cr.valid, res, xyz[..., 2], cavity)

    def _near_body(self, x_t: torch.Tensor, body_out: BodyOutput) -> torch.Tensor:
        """[B, R, S] samples within ``body_margin`` of the posed upper body's bounding box."""
        cand = body_out.vertices[:, self.body.candidate_vertex_ids]  # [B, Vc, 3]
        lo = cand.amin(1) - self.settings.body_margin
        hi = cand.amax(1) + self.settings.body_margin
        return ((x_t >= lo[:, None, None]) & (x_t <= hi[:, None, None])).all(-1)

    def _grid_canonical(self, cam: Camera, center: float, half_depth: float, res: int, body_out: BodyOutput,
                        exp_film: FiLMParams) -> torch.Tensor:
        """Fast path: skinning, D^p, inverse LBS and D^e on the coarse ``pose_grid`` of the
        camera's frustum; canonical coordinates trilinearly interpolated at the samples.

        Returns x_c [B, res*res, samples_per_ray, 3] and the rays whose first face hit is the
        mouth interior [B, res*res] (float; None unless :attr:`RenderSettings.mouth_cavity`).
        """
        st = self.settings
        dc, hc, wc = st.pose_grid
        b = body_out.vertices.shape[0]
        o, d = camera_rays(cam, hc, wc)
        tc = torch.linspace(center - half_depth, center + half_depth, dc, dtype=o.dtype, device=o.device)
        xt = o.unsqueeze(2) + d.unsqueeze(2) * tc.view(1, 1, -1, 1)  # [B, Hc*Wc, Dc, 3]
        sk = inverse_skinning(xt.reshape(b, -1, 3), body_out, self.body.candidate_vertex_ids,
                              return_transforms=True)
        grid = sk.transforms.reshape(b, hc, wc, dc, 16).permute(0, 4, 3, 1, 2)  # [B, 16, Dc, Hc, Wc]
        smooth = self.pose_deformer(grid) if st.pose_deformer else grid
        smooth = smooth.permute(0, 3, 4, 2, 1).reshape(b, -1, dc, 4, 4)
        xp = apply_inverse_transforms(xt, smooth)  # [B, Hc*Wc, Dc, 3]
        at_samples = st.expression_at_samples
        xc = xp if at_samples else xp + self._expression(xp, exp_film, fast=True)
        xc = xc.view(b, hc, wc, dc, 3).permute(0, 4, 3, 1, 2)  # [B, 3, Dc, Hc, Wc]
        # Trilinear interpolation, done separably: both grids sample the same frustum at pixel
        # centres (bilinear, align_corners=False) and the same depth interval (linear,
        # align_corners=True).
        s_n = st.samples_per_ray
        up = F.interpolate(xc.reshape(b, 3 * dc, hc, wc), size=(res, res), mode="bilinear", align_corners=False)
        up = up.view(b, 3, dc, res * res).transpose(2, 3).reshape(b, 3 * res * res, dc)
        up = F.interpolate(up, size=s_n, mode="linear", align_corners=True)  # [B, 3*R, S]
        up = up.view(b, 3, res * res, s_n).permute(0, 2, 3, 1)
        if not at_samples:
            return up, None
        delta = self._expression(up, exp_film, fast=True)
        cavity = None
        if st.expression_hold and exp_film.guide is not None:
            delta, cavity = self._hold_behind_face(delta, cam, res, center, half_depth, body_out, exp_film)
        return up + delta, cavity

    def _expression(self, x_p: torch.Tensor, film: FiLMParams, fast: bool) -> torch.Tensor:
        """D^e displacement [B, R, S, 3]; the fast path runs it only inside its support."""
        b = x_p.shape[0]
        flat = x_p.reshape(b, -1, 3)
        if not fast:
            return self.expression_deformer(flat, film).view_as(x_p)
        if not on_host(flat):  # every point (D^e is 0 outside its support): no host-sized gather
            return self.expression_deformer(flat, film).view_as(x_p)
        out = torch.zeros_like(flat)
        support = self.expression_deformer.region_weight(flat) > 0  # [B, N]
        for i in range(b):
            idx = support[i].nonzero().squeeze(-1)
            if idx.numel():
                sub = film[i:i + 1]
                out[i, idx] = self.expression_deformer(flat[i:i + 1, idx], sub)[0]
        return out.view_as(x_p)


def put_row(target: torch.Tensor, i: int, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``target`` with ``target[i][mask] = values`` (out of place, so autograd follows it)."""
    row = target[i].masked_scatter(mask.unsqueeze(-1) if target.dim() == 4 else mask, values)
    return torch.cat([target[:i], row.unsqueeze(0), target[i + 1:]])


def to_image(values: torch.Tensor, res: int) -> torch.Tensor:
    """[B, R, C] row-major -> [B, C, res, res]."""
    return values.view(values.shape[0], res, res, -1).permute(0, 3, 1, 2).contiguous()
