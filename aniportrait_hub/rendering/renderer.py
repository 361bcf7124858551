"""The portrait renderer: per-identity bake, per-frame deformation + intersection + lookup
(METHOD.md 1.3-1.5; DESIGN.md decision 4).

Per identity (:meth:`PortraitRenderer.bake`): radiance mapping, radiance maps of the 24
manifolds, super-resolution U. Per frame (:meth:`PortraitRenderer.render`): body pose, ray
samples, inverse skinning smoothed by D^p, expression deformer D^e, manifold predictor M,
first downward crossings, map lookup, compositing; for the portrait and the face camera.

Two paths compute the same geometry:

- ``fast=False`` (reference): every sample of every ray of the requested resolution goes
  through nearest-vertex skinning, D^p on the ray-sample grid, D^e and M, as in the paper.
- ``fast=True``: skinning, D^p (on that grid), inverse LBS and D^e (only inside its support)
  run on a fixed coarse frustum grid (``pose_grid``), and the canonical coordinates of the ray
  samples are interpolated from it; M is read from a precomputed canonical grid
  (:class:`FieldGrid`); intersections are found at ``geometry_resolution`` and their canonical
  coordinates upsampled to the output resolution before the (high-resolution) maps are looked
  up. Tests hold it to the reference.

:class:`PortraitRenderer` holds the per-identity and per-frame steps; its paths are modules of
their own, mixed into it: :mod:`.geometry` (the fast path), :mod:`.reference` (the reference
path), :mod:`.shading` (dense and sparse map shading, the cavity tint), :mod:`.hold` (the
expression hold and the mouth cavity) and :mod:`.direct` (phi at the intersections, no bake).
Its constants are :class:`~.settings.RenderSettings`; its per-identity cache and per-frame
output are in :mod:`.outputs`.
"""

from __future__ import annotations

import torch
from torch.profiler import record_function

from aniportrait_hub.body.body_model import BodyModel, BodyOutput
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.deformation.expression_deformer import (
    ExpressionDeformer,
    ExpressionGuide,
    face_triangles,
    seam_pairs,
)
from aniportrait_hub.deformation.pose_deformer import PoseDeformer
from aniportrait_hub.fields.manifold import ManifoldPredictor
from aniportrait_hub.fields.radiance import RadianceGenerator
from aniportrait_hub.rendering.baking import bake_radiance_maps, manifold_heights
from aniportrait_hub.rendering.cameras import Camera, face_camera, portrait_camera
from aniportrait_hub.rendering.direct import DirectRendering
from aniportrait_hub.rendering.geometry import FastGeometry, FieldGrid, Geometry, to_image
from aniportrait_hub.rendering.hold import ExpressionHold
from aniportrait_hub.rendering.outputs import IdentityCache, RenderOutput
from aniportrait_hub.rendering.reference import ReferenceGeometry
from aniportrait_hub.rendering.settings import RenderSettings, radiance_latent
from aniportrait_hub.rendering.shading import MapShading
from aniportrait_hub.rendering.superres import ManifoldSuperResolution


class PortraitRenderer(FastGeometry, ReferenceGeometry, MapShading, ExpressionHold, DirectRendering):
    """Stateless renderer over the generator's modules (no parameters of its own)."""

    def __init__(self, settings: RenderSettings, body: BodyModel, manifold: ManifoldPredictor,
                 radiance: RadianceGenerator, pose_deformer: PoseDeformer,
                 expression_deformer: ExpressionDeformer, superres: ManifoldSuperResolution, face_model=None):
        self.settings, self.body = settings, body
        self.manifold, self.radiance = manifold, radiance
        self.pose_deformer, self.expression_deformer, self.superres = pose_deformer, expression_deformer, superres
        self.face_model = face_model  # the guide's source when D^e is guided (ExpressionDeformer ``guide``)
        self._seams = None  # the face model's seam pairs (once, for the guide's openings)
        self._face_tris = None  # its triangles (once, for the guide's ray casting)
        self._cavity_tris = None  # which of them are the mouth interior (once, RenderSettings.mouth_cavity)

    def expression_film(self, face_id: torch.Tensor, betas: torch.Tensor, expression: torch.Tensor) -> FiLMParams:
        """D^e's modulation of B frames, with the face-model guide when D^e has one."""
        guide = None
        cfg = self.expression_deformer.config
        if cfg.guide == "face_model":
            if self.face_model is None:
                raise ValueError("this model's D^e is guided by the face model: build the renderer with "
                                 "face_model= (AniPortraitGAN.renderer() does)")
            if cfg.guide_openings and self._seams is None:
                self._seams = seam_pairs(self.body, self.face_model)
            if self._face_tris is None:
                self._face_tris = face_triangles(self.body.faces, self.face_model.body_vertex_ids)
            guide = ExpressionGuide.from_face_model(self.body, self.face_model, face_id, betas, expression,
                                                    seams=self._seams if cfg.guide_openings else None,
                                                    faces=self._face_tris)
        return self.expression_deformer.mapping(face_id, expression, guide=guide)

    # ------------------------------------------------------------------ per identity
    @torch.no_grad()
    def field_grid(self, chunk: int = 4096) -> FieldGrid:
        """M on the fast path's canonical grid (identity-independent; compute once per model)."""
        st = self.settings
        g = st.field_grid
        p = next(self.manifold.parameters())
        axes = [torch.linspace(lo, hi, g, device=p.device, dtype=torch.float32) for lo, hi in st.field_bounds]
        zz, yy, xx = torch.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        pts = torch.stack([xx, yy, zz], -1).reshape(-1, 3)
        s = torch.cat([self.manifold(c) for c in pts.split(chunk)])
        return FieldGrid(s.view(1, 1, g, g, g), st.field_bounds)

    @torch.no_grad()
    def manifold_heights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the baking rays meet the manifolds (identity-independent; once per model)."""
        st = self.settings
        return manifold_heights(self.manifold, st.map_resolution, st.map_x_range, st.map_y_range,
                                st.bake_z_range, st.bake_z_samples)

    def bake(self, face_id: torch.Tensor, betas: torch.Tensor, noise: torch.Tensor,
             radiance_film: FiLMParams | None = None, sr_style: torch.Tensor | None = None,
             heights: tuple[torch.Tensor, torch.Tensor] | None = None) -> IdentityCache:
        """Radiance maps and their super-resolution for B identities.

        ``radiance_film`` / ``sr_style`` override the mappings of [face_id, noise] (truncation);
        ``heights`` is :meth:`manifold_heights`, computed here if None. Differentiable (the
        pipeline calls it under ``no_grad``; training U goes through it).
        """
        st = self.settings
        z = radiance_latent(st, face_id, noise, betas)
        # 1. Mappings, 2. where the baking rays meet the manifolds, 3. phi there, 4. U.
        film = radiance_film if radiance_film is not None else self.radiance.mapping(z)
        style = sr_style if sr_style is not None else self.superres.mapping(z)
        heights = heights if heights is not None else self.manifold_heights()
        maps = bake_radiance_maps(heights, self.radiance, film, st.map_resolution)
        maps_hr = self.superres(maps, style)
        return IdentityCache(face_id, betas, noise, maps, maps_hr)

    # ------------------------------------------------------------------ per frame
    def render(self, cache: IdentityCache, expression: torch.Tensor, joint_eulers: torch.Tensor,
               camera: torch.Tensor, resolution: int, *, fast: bool = True, face_resolution: int | None = None,
               field: FieldGrid | None = None, low_res: bool = True) -> RenderOutput:
        """Render B frames (one per identity in ``cache``).

        Args:
            expression: [B, E]; joint_eulers: [B, 6, 3]; camera: [B, 2] (pitch, yaw).
            resolution: output side. face_resolution: face-camera side (None: no face image).
            field: the precomputed :class:`FieldGrid` (fast path; computed here if None).
            low_res: also composite the baked (not super-resolved) maps into ``low_res_image``.
                Above the geometry resolution the sparse shading needs that composite anyway; at
                or below it, False skips it (a tenth of a 128^2 frame) and leaves the field None.

        Differentiable with respect to the cached maps (the pipeline calls it under ``no_grad``).
        """
        st = self.settings
        # 1. Posed body and the frame's expression modulation.
        with record_function("frame/body"):
            body_out = self.body(cache.betas, joint_eulers)
            exp_film = self.expression_film(cache.face_id, cache.betas, expression)
        if fast and field is None:
            field = self.field_grid()
        # 2. Portrait geometry, low-res and high-res shading.
        cam = portrait_camera(camera, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
        geo_res = min(resolution, st.geometry_resolution) if fast else resolution
        geo = self.geometry(cam, st.portrait_radius, st.ray_half_depth, geo_res, body_out, exp_film, fast, field)
        sparse = fast and st.shading_weight_floor > 0 and resolution != geo_res
        low = None
        if low_res or sparse:
            with record_function("frame/shade_low"):
                low = self.shade(geo, cache.maps_lr)
        if sparse:
            with record_function("frame/shade_high_sparse"):
                high = self.shade_sparse(geo, low.weights, cache.maps_hr, resolution)
        else:
            with record_function("frame/shade_high"):
                high = self.shade_upsampled(geo, cache.maps_hr, resolution)
        # 3. Face camera.
        face = None
        if face_resolution:
            with record_function("frame/face_camera"):
                face = self._face_image(cam, body_out, cache, exp_film, face_resolution, fast, field)
        return RenderOutput(to_image(high.image, resolution), to_image(low.image, geo_res) if low_res else None,
                            to_image(high.depth.unsqueeze(-1), resolution),
                            to_image(high.mask.unsqueeze(-1), resolution), face)


    def _face_image(self, cam: Camera, body_out: BodyOutput, cache: IdentityCache, exp_film: FiLMParams,
                    face_resolution: int, fast: bool, field: FieldGrid | None) -> torch.Tensor:
        """The face camera looks at the posed head centre (the neutral face centre, carried by
        the head joint) -> [B, 3, Hf, Wf]."""
        fgeo = self._face_geometry(cam, body_out, exp_film, face_resolution, fast, field)
        maps = cache.maps_hr if face_resolution > self.settings.map_resolution else cache.maps_lr
        return to_image(self.shade(fgeo, maps).image, face_resolution)

    def _face_geometry(self, cam: Camera, body_out: BodyOutput, exp_film: FiLMParams, face_resolution: int,
                       fast: bool, field: FieldGrid | None) -> Geometry:
        """The face camera's intersections at ``face_resolution`` (found at the geometry
        resolution on the fast path, upsampled)."""
        st = self.settings
        fcam = face_camera(cam, body_out.head_transform[:, :3, 3], st.face_distance, st.face_fov_deg)
        f_res = min(face_resolution, st.geometry_resolution) if fast else face_resolution
        fgeo = self.geometry(fcam, st.face_distance, st.face_half_depth, f_res, body_out, exp_film, fast, field)
        return fgeo.upsample(face_resolution) if f_res != face_resolution else fgeo

    @torch.no_grad()
    def view_geometry(self, cache: IdentityCache, expression: torch.Tensor, joint_eulers: torch.Tensor,
                      camera: torch.Tensor, resolution: int, face_resolution: int,
                      field: FieldGrid | None = None) -> tuple[Geometry, Geometry]:
        """The fast path's intersections of the portrait camera (at ``resolution``) and of the
        face camera (at ``face_resolution``) for these labels: what :meth:`render` shades. The
        maps do not move them, so a fit of the maps (:mod:`aniportrait_hub.inversion.maps`) finds
        them once and shades them with :meth:`shade` at every step."""
        st = self.settings
        body_out = self.body(cache.betas, joint_eulers)
        exp_film = self.expression_film(cache.face_id, cache.betas, expression)
        field = field if field is not None else self.field_grid()
        cam = portrait_camera(camera, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
        geo_res = min(resolution, st.geometry_resolution)
        geo = self.geometry(cam, st.portrait_radius, st.ray_half_depth, geo_res, body_out, exp_film, True, field)
        return (geo.upsample(resolution) if geo_res != resolution else geo,
                self._face_geometry(cam, body_out, exp_film, face_resolution, True, field))


    # ------------------------------------------------------------------ steps


