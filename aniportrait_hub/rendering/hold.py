"""The expression hold and the mouth cavity: every sample behind a ray's first meeting with the
expressive face takes D^e's displacement at that meeting point
(:attr:`~.settings.RenderSettings.expression_hold`), and the rays whose first hit is the mouth
interior are found for the tint (:attr:`~.settings.RenderSettings.mouth_cavity`)."""

from __future__ import annotations

import torch

from aniportrait_hub.body.body_model import BodyOutput
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.host import on_host
from aniportrait_hub.rendering.cameras import Camera, camera_rays


class ExpressionHold:
    """The hold and cavity of :class:`~aniportrait_hub.rendering.renderer.PortraitRenderer` (a
    mixin over its ``settings``, ``body``, ``face_model`` and the guide's triangles)."""

    def _hold_behind_face(self, delta: torch.Tensor, cam: Camera, res: int, center: float, half_depth: float,
                          body_out: BodyOutput, exp_film: FiLMParams) -> torch.Tensor:
        """``delta`` [B, R, S, 3] with every sample behind the ray's first meeting with the
        expressive face given D^e's displacement at that meeting point
        (:attr:`RenderSettings.expression_hold`), and the rays whose first hit is the mouth
        interior [B, R] (float; None unless :attr:`RenderSettings.mouth_cavity`)."""
        s_n = delta.shape[2]
        o, d = camera_rays(cam, res, res)
        inv = torch.linalg.inv(body_out.head_transform)  # posed -> neutral pose, rigid
        rot, tr = inv[:, :3, :3], inv[:, :3, 3]
        o_p = o @ rot.transpose(1, 2) + tr[:, None]
        d_p = d @ rot.transpose(1, 2)
        depth, hit, tri = exp_film.guide.first_hits(o_p, d_p)  # [B, R], [B, R, 3], [B, R]
        cavity = None
        if self.settings.mouth_cavity is not None:
            inside = self._cavity_triangles()[tri.clamp_min(0)] & (tri >= 0)
            # (on the host, a frame without an open mouth skips the tint; a device always tints)
            cavity = inside.to(delta.dtype) if not on_host(inside) or bool(inside.any()) else None
        t = torch.linspace(center - half_depth, center + half_depth, s_n, dtype=delta.dtype, device=delta.device)
        behind = t.view(1, 1, -1) >= depth.unsqueeze(-1)  # [B, R, S]; never on a miss (inf)
        if on_host(behind) and not bool(behind.any()):
            return delta, cavity
        held = self._expression(hit.unsqueeze(2), exp_film, fast=True)  # [B, R, 1, 3]
        return torch.where(behind.unsqueeze(-1), held, delta), cavity

    def _cavity_triangles(self) -> torch.Tensor:
        """[F] the face triangles (:func:`face_triangles`, the guide's) of the mouth interior:
        all three corners in the synthetic teacher's cavity and tongue (computed once)."""
        if self._cavity_tris is None:
            from aniportrait_hub.data.appearance import FaceRegions

            mouth = torch.from_numpy(FaceRegions.from_models(self.body, self.face_model).mouth)
            ids = self.face_model.body_vertex_ids.cpu()
            self._cavity_tris = mouth[ids][self._face_tris.cpu()].all(-1).to(self._face_tris.device)
        return self._cavity_tris
