"""Rendering without the per-identity bake (what stage 1 trains): phi evaluated at the
intersections themselves (GRAM's way)."""

from __future__ import annotations

import torch

from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.host import on_host
from aniportrait_hub.rendering.cameras import face_camera, portrait_camera
from aniportrait_hub.rendering.compositing import composite, sigma_to_alpha
from aniportrait_hub.rendering.geometry import Geometry, put_row, to_image
from aniportrait_hub.rendering.outputs import RenderOutput


class DirectRendering:
    """The direct path of :class:`~aniportrait_hub.rendering.renderer.PortraitRenderer` (a mixin;
    geometry from :class:`~.geometry.FastGeometry`)."""

    def render_direct(self, film: FiLMParams, face_id: torch.Tensor, betas: torch.Tensor, expression: torch.Tensor,
                      joint_eulers: torch.Tensor, camera: torch.Tensor, resolution: int,
                      face_resolution: int | None = None) -> RenderOutput:
        """Render without the per-identity bake: phi evaluated at the intersections themselves
        (GRAM's way; what stage 1 trains). Differentiable with respect to phi and its mapping,
        M, D^p and D^e; geometry as the fast path (skinning, D^p and D^e on the frustum grid)
        with M evaluated at the samples. The view direction is the bake's fixed (0, 0, -1), so
        a model trained this way renders the same through the baked maps.

        Args:
            film: radiance FiLM parameters [B, ...] (``radiance.mapping([face_id, noise])``).
            face_id [B, K], betas [B, 10], expression [B, E], joint_eulers [B, 6, 3], camera [B, 2].
        Returns:
            :class:`RenderOutput` (``image`` and ``low_res_image`` are the same render).
        """
        st = self.settings
        body_out = self.body(betas, joint_eulers)
        exp_film = self.expression_film(face_id, betas, expression)
        cam = portrait_camera(camera, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
        geo = self.geometry(cam, st.portrait_radius, st.ray_half_depth, resolution, body_out, exp_film, True, None)
        comp = self.shade_direct(geo, film)
        face = None
        if face_resolution:
            fcam = face_camera(cam, body_out.head_transform[:, :3, 3], st.face_distance, st.face_fov_deg)
            fgeo = self.geometry(fcam, st.face_distance, st.face_half_depth, face_resolution, body_out, exp_film,
                                 True, None)
            face = to_image(self.shade_direct(fgeo, film).image, face_resolution)
        image = to_image(comp.image, resolution)
        return RenderOutput(image, image, to_image(comp.depth.unsqueeze(-1), resolution),
                            to_image(comp.mask.unsqueeze(-1), resolution), face)

    def shade_direct(self, geo: Geometry, film: FiLMParams):
        """phi at the valid intersections (one identity at a time: FiLM is per identity) and
        compositing -> ``Composite`` over [B, R]."""
        pts = torch.cat([geo.xy, geo.z.unsqueeze(-1)], -1)  # [B, R, L, 3]
        if not on_host(pts):  # phi at every (ray, level), the batch at once; invalid ones weigh 0
            b = pts.shape[0]
            flat = pts.view(b, -1, 3)
            out = self.radiance(flat, flat.new_tensor([0.0, 0.0, -1.0]).expand_as(flat), film)
            ok = geo.valid.unsqueeze(-1)
            rgb = torch.where(ok, out.rgb.view(pts.shape), 0.0)
            alpha = torch.where(geo.valid, sigma_to_alpha(out.sigma).view(pts.shape[:-1]), 0.0)
            return composite(rgb, alpha, geo.dist, geo.valid)
        rgb = pts.new_zeros(pts.shape)
        alpha = pts.new_zeros(pts.shape[:-1])
        for i in range(pts.shape[0]):
            m = geo.valid[i]
            p = pts[i][m].unsqueeze(0)  # [1, N, 3]
            if p.shape[1] == 0:
                continue
            out = self.radiance(p, p.new_tensor([0.0, 0.0, -1.0]).expand_as(p),
                                film[i:i + 1])
            rgb = put_row(rgb, i, m, out.rgb[0])
            alpha = put_row(alpha, i, m, sigma_to_alpha(out.sigma[0]))
        return composite(rgb, alpha, geo.dist, geo.valid)
