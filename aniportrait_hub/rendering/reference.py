"""The straightforward (reference) path of a frame's geometry, as in the paper: every sample of
every ray at the requested resolution through nearest-vertex skinning, D^p on the ray-sample
grid, D^e and M, over bands of image rows. Tests hold the fast path to it."""

from __future__ import annotations

import torch
from torch.profiler import record_function

from aniportrait_hub.body.body_model import BodyOutput
from aniportrait_hub.body.skinning import apply_inverse_transforms, inverse_skinning
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.rendering.cameras import Camera, camera_rays
from aniportrait_hub.rendering.geometry import Geometry
from aniportrait_hub.rendering.intersection import find_crossings


class ReferenceGeometry:
    """The reference path of :class:`~aniportrait_hub.rendering.renderer.PortraitRenderer` (a
    mixin; ``_near_body`` and ``_expression`` come from :class:`~.geometry.FastGeometry`)."""

    def _reference_geometry_in_bands(self, cam: Camera, center: float, half_depth: float, res: int,
                                     body_out: BodyOutput, exp_film: FiLMParams) -> Geometry:
        """The reference path over bands of image rows: each band with ``reference_band_halo``
        rows of context on both sides for D^p (cut off afterwards), so the result equals the
        whole-image computation while memory stays that of one band."""
        st = self.settings
        s_n = st.samples_per_ray
        band, halo = min(st.reference_band_rows, res), st.reference_band_halo
        band += band % 2  # even bands and halos keep D^p's 2x pooling cells aligned
        halo += halo % 2
        o_all, d_all = camera_rays(cam, res, res)  # [B, R, 3]
        b = o_all.shape[0]
        t = torch.linspace(center - half_depth, center + half_depth, s_n, dtype=o_all.dtype, device=o_all.device)
        parts = []
        for r0 in range(0, res, band):
            r1 = min(r0 + band, res)
            a0, a1 = max(r0 - halo, 0), min(r1 + halo, res)
            rows = a1 - a0
            o = o_all.view(b, res, res, 3)[:, a0:a1].reshape(b, -1, 3)
            d = d_all.view(b, res, res, 3)[:, a0:a1].reshape(b, -1, 3)
            x_t = o.unsqueeze(2) + d.unsqueeze(2) * t.view(1, 1, -1, 1)  # [B, rows*res, S, 3]
            usable = self._near_body(x_t, body_out)
            # 2. Pose: nearest-vertex skinning transforms smoothed by D^p, inverted (Eq. 4-5);
            #    the halo rows are only D^p's context.
            with record_function("geometry/deform"):
                transforms = self._sample_transforms(x_t, rows, res, body_out)
                keep = slice((r0 - a0) * res, (r1 - a0) * res)
                x_t, usable, transforms = x_t[:, keep], usable[:, keep], transforms[:, keep]
                x_p = apply_inverse_transforms(x_t, transforms)
                # 3. Expression: x_c = x_p + D^e(x_p) (Eq. 6-7).
                x_c = x_p + self._expression(x_p, exp_film, fast=False)
            with record_function("geometry/field"):  # 4. Manifold field, 5. crossings.
                s = self.manifold(x_c)
            cr = find_crossings(s, self.manifold.levels, usable)
            xyz = cr.gather(x_c)
            dist = cr.gather(t.view(1, 1, -1, 1).expand(*x_c.shape[:3], 1))[..., 0]
            parts.append((xyz, dist, cr.valid))
        xyz = torch.cat([p[0] for p in parts], 1)
        return Geometry(xyz[..., :2], torch.cat([p[1] for p in parts], 1), torch.cat([p[2] for p in parts], 1), res,
                        xyz[..., 2])

    def _sample_transforms(self, x_t: torch.Tensor, rows: int, cols: int, body_out: BodyOutput) -> torch.Tensor:
        """Reference: skinning of every sample, D^p on the [S, rows, cols] ray-sample grid."""
        b, r, s_n, _ = x_t.shape
        sk = inverse_skinning(x_t.reshape(b, -1, 3), body_out, self.body.candidate_vertex_ids,
                              return_transforms=True)
        grid = sk.transforms.reshape(b, rows, cols, s_n, 16).permute(0, 4, 3, 1, 2)  # [B, 16, S, H, W]
        smooth = self.pose_deformer(grid) if self.settings.pose_deformer else grid
        return smooth.permute(0, 3, 4, 2, 1).reshape(b, r, s_n, 4, 4)
