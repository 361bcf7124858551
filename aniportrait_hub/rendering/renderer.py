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
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from aniportrait_hub.body.body_model import BodyModel, BodyOutput
from aniportrait_hub.body.skinning import apply_inverse_transforms, inverse_skinning
from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.deformation.expression_deformer import (
    ExpressionDeformer,
    ExpressionGuide,
    face_triangles,
    seam_pairs,
)
from aniportrait_hub.deformation.pose_deformer import PoseDeformer
from aniportrait_hub.fields.manifold import ManifoldPredictor
from aniportrait_hub.fields.radiance import RadianceGenerator, window_grid
from aniportrait_hub.host import on_host
from aniportrait_hub.rendering.baking import bake_radiance_maps, lookup_maps, manifold_heights
from aniportrait_hub.rendering.cameras import Camera, camera_rays, face_camera, portrait_camera
from aniportrait_hub.rendering.compositing import Composite, composite, in_depth_order, sigma_to_alpha
from aniportrait_hub.rendering.intersection import find_crossings
from aniportrait_hub.rendering.superres import ManifoldSuperResolution


@dataclasses.dataclass
class RenderSettings:
    """Renderer constants (architecture config, saved with the pipeline). World units."""

    portrait_radius: float = 1.895
    """Portrait camera distance to the face centre (reference)."""
    portrait_fov_deg: float = 12.0
    """Portrait camera vertical field of view (reference)."""
    portrait_shift: tuple[float, float, float] = (0.0, -0.0183, -0.0959)
    """Shift applied to the portrait camera and its target (reference)."""
    ray_half_depth: float = 0.22
    """Samples span the camera-target distance +- this (reference)."""
    samples_per_ray: int = 64
    """Samples per ray (reference 64; the reference's linear upsampling to 256 changes no crossing)."""
    face_distance: float = 1.4
    """Face camera distance to the head centre: radius 1 of head-only GANs times 1.4 world units
    per head unit (our choice: the whole face with a margin of hair, as an FFHQ crop shows it)."""
    face_fov_deg: float = 12.0
    """Face camera field of view (reference, head-only GANs)."""
    face_half_depth: float = 0.12
    """Face camera samples span distance +- this (head-only GANs: 0.88-1.12 head units)."""
    map_resolution: int = 128
    """Radiance-map resolution (reference 128)."""
    map_x_range: tuple[float, float] = (-0.22, 0.22)
    """Canonical x covered by the maps (reference)."""
    map_y_range: tuple[float, float] = (-0.248, 0.192)
    """Canonical y covered by the maps (reference)."""
    bake_z_range: tuple[float, float] = (-0.35, 0.35)
    """Canonical z searched by the baking rays (our choice: encloses the manifolds)."""
    bake_z_samples: int = 64
    """Samples of each baking ray (our choice)."""
    body_margin: float = 0.08
    """Empty-space skipping: samples farther than this outside the posed upper body's bounding
    box are never part of a crossing (our choice; both paths)."""
    pose_grid: tuple[int, int, int] = (32, 64, 64)
    """Fast path: (samples, rows, columns) of the frustum grid where skinning and D^p run."""
    field_grid: int = 128
    """Fast path: resolution of the precomputed grid of M."""
    field_bounds: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = (
        (-0.45, 0.45), (-0.6, 0.35), (-0.45, 0.45))
    """Fast path: canonical box of that grid; samples outside it count as empty."""
    geometry_resolution: int = 128
    """Fast path: resolution at which intersections are found (upsampled beyond)."""
    shading_weight_floor: float = 1e-4
    """Fast path above the geometry resolution, sparse shading (our choice): the super-resolved
    maps are looked up only at the (ray, level) pairs whose compositing weight in the baked
    maps' render at the geometry resolution exceeds this somewhere in the 3 x 3 geometry pixels
    around the ray (the bilinear upsampling's reach). A portrait ray's weight sits in about 3
    of the 24 levels, so this skips most lookups and their compositing (512^2 frame 0.94 ->
    0.40 s here). What it can miss: a thin structure that U draws on a level the baked maps
    leave empty at all nine geometry pixels (a few dozen pixels of a 512^2 side view,
    none frontal). 0 = every pair (dense)."""
    reference_band_rows: int = 32
    """Reference path (``fast=False``): image rows whose ray samples go through skinning, D^p,
    D^e and M at once (bands overlap by D^p's reach, ``reference_band_halo``), so any resolution
    renders in bounded memory (our choice: ~1.5 GB at 512^2 x 64 samples)."""
    reference_band_halo: int = 16
    """Reference path: extra rows on each side of a band that D^p sees (its receptive field: 2x
    pooling, a 9-wide conv at half resolution, a 9-wide conv at full resolution: 14 rows)."""
    expression_at_samples: bool = False
    """Fast path: D^e at every ray sample inside its support, on the neutral-pose coordinates
    interpolated from ``pose_grid`` (our choice for the default model), instead of on the grid
    itself (False). Skinning and D^p are smooth at the grid's scale, expressions are not: the
    face camera's grid cells are 7 x 7 x 15 mm, wider than a lip gap or an eyelid's travel."""
    expression_hold: bool = False
    """Fast path with ``expression_at_samples`` and a guided D^e (our choice for the default
    model): behind the point where a ray first meets the expressive face, D^e's displacement is
    held at that point's value, so the ray's canonical samples behind the surface follow the
    surface point the ray shows, as a mesh renderer would. Without it a ray through a closed lid
    takes the lid's offset (14 mm) in front of the lid and the eyeball's (0) a millimetre behind
    it, and the manifolds, smooth at the field grid's 7 mm, are crossed behind the lid: the
    canonical eye shows in a band between the meeting lids (and ragged edges along the lips).
    The hit is found by ray casting in the neutral pose, the rays carried there by the head's
    rigid transform."""
    mouth_cavity: tuple[float, float, float] | None = None
    """Fast path with ``expression_hold`` (our choice for the default model: (0.35, 0.12, 0.12),
    the synthetic teacher's cavity colour relative to skin): the colour of a ray whose first
    hit on the expressive face is the mouth interior (the teacher's cavity and tongue,
    :attr:`~aniportrait_hub.data.appearance.FaceRegions.mouth`) is multiplied by this, per
    channel, with the hit fraction upsampled bilinearly as a soft edge. Why: the radiance maps
    are indexed by canonical (x, y) per level, and an opened mouth's interior lies behind the
    closed lips at the same (x, y), so no map can hold both the lip and the cavity colour; the
    open mouth showed stretched lip colour, which the face mesh read as closed lips. The ray
    cast is the one ``expression_hold`` already makes. Depth and mask are unchanged. None: off."""
    pose_deformer: bool = True
    """Smooth the skinning transforms with D^p (METHOD.md 1.3, Eq. 5). False is the paper's
    ablation "without D^p": every point takes its nearest body vertex's transform as it is, so
    hair and clothing far from the skin follow whichever vertex is nearest (hair tearing)."""
    radiance_betas: bool = False
    """phi's and U's latent is [face_id, eps, betas] instead of [face_id, eps] (our choice for
    models taught by the synthetic renderer, where a person's canonical silhouette follows the
    body shape; the paper's z_id is the face identity and the body shape, METHOD.md 1.2)."""

    @classmethod
    def from_dict(cls, d: dict | None) -> "RenderSettings":
        if not d:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown render settings {sorted(unknown)}; known: {sorted(known)}")
        conv = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
                for k, v in d.items()}
        return cls(**conv)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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


class PortraitRenderer:
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
        return RenderOutput(_to_image(high.image, resolution), _to_image(low.image, geo_res) if low_res else None,
                            _to_image(high.depth.unsqueeze(-1), resolution),
                            _to_image(high.mask.unsqueeze(-1), resolution), face)

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
            face = _to_image(self.shade_direct(fgeo, film).image, face_resolution)
        image = _to_image(comp.image, resolution)
        return RenderOutput(image, image, _to_image(comp.depth.unsqueeze(-1), resolution),
                            _to_image(comp.mask.unsqueeze(-1), resolution), face)

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
            rgb = _put(rgb, i, m, out.rgb[0])
            alpha = _put(alpha, i, m, sigma_to_alpha(out.sigma[0]))
        return composite(rgb, alpha, geo.dist, geo.valid)

    def _face_image(self, cam: Camera, body_out: BodyOutput, cache: IdentityCache, exp_film: FiLMParams,
                    face_resolution: int, fast: bool, field: FieldGrid | None) -> torch.Tensor:
        """The face camera looks at the posed head centre (the neutral face centre, carried by
        the head joint) -> [B, 3, Hf, Wf]."""
        fgeo = self._face_geometry(cam, body_out, exp_film, face_resolution, fast, field)
        maps = cache.maps_hr if face_resolution > self.settings.map_resolution else cache.maps_lr
        return _to_image(self.shade(fgeo, maps).image, face_resolution)

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

    def shade(self, geo: Geometry, maps: torch.Tensor):
        """Map lookup at the intersections and compositing -> ``Composite`` over [B, R]."""
        st = self.settings
        rgba = lookup_maps(maps, geo.xy, st.map_x_range, st.map_y_range)  # [B, R, L, 4]
        cover = geo.valid.to(rgba.dtype)
        return self._tint_cavity(composite(rgba[..., :3], rgba[..., 3] * cover, geo.dist, cover > 0), geo.cavity)

    def _tint_cavity(self, comp: Composite, cavity: torch.Tensor | None) -> Composite:
        """The colour of the mouth interior's rays times :attr:`RenderSettings.mouth_cavity`
        (the white background's share, ``1 - mask``, is left white)."""
        tint = self.settings.mouth_cavity
        if cavity is None or tint is None:
            return comp
        c = (cavity * comp.mask).unsqueeze(-1)
        fg = comp.image - (1 - comp.mask).unsqueeze(-1)
        scale = 1 - c * (1 - comp.image.new_tensor(tint))
        return dataclasses.replace(comp, image=fg * scale + (1 - comp.mask).unsqueeze(-1))

    def shade_upsampled(self, geo: Geometry, maps: torch.Tensor, resolution: int) -> Composite:
        """Dense shading of ``geo`` upsampled to ``resolution`` (every ray, every level)."""
        return self.shade(geo if geo.resolution == resolution else geo.upsample(resolution), maps)

    def shade_sparse(self, geo: Geometry, weights: torch.Tensor, maps: torch.Tensor, resolution: int) -> Composite:
        """``maps`` at ``resolution`` from intersections found at ``geo``'s resolution, looked up
        only where the low-resolution weights say a level is seen
        (``RenderSettings.shading_weight_floor``).

        Equals ``shade(geo.upsample(resolution), maps)`` up to the dropped pairs' weight (the
        background depth is the farthest low-resolution intersection): level by level, each
        level's selected pixels get their upsampled intersection (``grid_sample`` of the
        low-resolution geometry, the same bilinear weights as ``F.interpolate``) and their map
        lookup, and are composited into running per-pixel transmittances. That needs every
        ray's levels in depth order; where some ray's are not, the dense path runs instead.

        Args: geo at resolution h; weights [B, h*h, L] of its low-resolution composite; maps
            [B, L, C >= 4, H, W]. Returns: :class:`Composite` over [B, resolution^2].
        """
        st = self.settings
        if not on_host(weights) or not in_depth_order(geo.dist, geo.valid):
            # the sparse lookups size their work on the host (a nonzero per level); a device
            # shades every ray instead
            return self.shade_upsampled(geo, maps, resolution)
        b, _, n_lv = geo.valid.shape
        h, res = geo.resolution, resolution
        keep = (weights > st.shading_weight_floor).view(b, h, h, n_lv).permute(0, 3, 1, 2).to(weights.dtype)
        if res != h:  # the bilinear upsampling reads the 2 x 2 geometry pixels around a ray
            keep = F.max_pool2d(keep, 3, 1, 1)
        dev, dt = geo.xy.device, geo.xy.dtype
        # Each output pixel inherits the selection of the geometry pixel containing its centre.
        src = (((torch.arange(res, device=dev) + 0.5) * h) // res).long()
        keep = (keep[:, :, src][:, :, :, src] > 0).contiguous()  # [B, L, res, res]
        v = geo.valid.to(dt).unsqueeze(-1)
        planes = torch.cat([geo.xy * v, geo.dist.unsqueeze(-1) * v, v], -1)  # [B, h*h, L, 4]
        planes = planes.view(b, h, h, n_lv, 4).permute(0, 3, 4, 1, 2).contiguous()  # [B, L, 4, h, h]
        centres = (torch.arange(res, device=dev, dtype=dt) + 0.5) / res * 2 - 1
        trans = torch.ones(b, res * res, device=dev, dtype=dt)
        image = torch.zeros(b, res * res, 3, device=dev, dtype=dt)
        mask = torch.zeros(b, res * res, device=dev, dtype=dt)
        depth = torch.zeros(b, res * res, device=dev, dtype=dt)
        for i in range(b):
            for lv in range(n_lv):
                ids = keep[i, lv].view(-1).nonzero().squeeze(1)
                if ids.numel() == 0:
                    continue
                grid = torch.stack([centres[ids % res], centres[ids // res]], -1).view(1, 1, -1, 2)
                g = F.grid_sample(planes[i:i + 1, lv], grid, mode="bilinear", padding_mode="border",
                                  align_corners=False)[0, :, 0]  # [4, n]
                cover = g[3]
                safe = cover.clamp_min(1e-6)
                uv = window_grid(g[0] / safe, g[1] / safe, st.map_x_range, st.map_y_range).view(1, 1, -1, 2)
                rgba = F.grid_sample(maps[i:i + 1, lv, :4], uv, mode="bilinear", padding_mode="zeros",
                                     align_corners=True)[0, :, 0]
                t = trans[i, ids]
                a = rgba[3] * cover
                w = t * a
                image[i, ids] += (w * rgba[:3]).T
                mask[i, ids] += w
                depth[i, ids] += w * g[2] / safe
                trans[i, ids] = t * (1 - a)
        far = torch.where(geo.valid, geo.dist, torch.zeros_like(geo.dist)).max()
        return self._tint_cavity(Composite(image + (1 - mask).unsqueeze(-1), depth + (1 - mask) * far, mask),
                                 geo.cavity_at(res))

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

    # ------------------------------------------------------------------ steps
    def _near_body(self, x_t: torch.Tensor, body_out: BodyOutput) -> torch.Tensor:
        """[B, R, S] samples within ``body_margin`` of the posed upper body's bounding box."""
        cand = body_out.vertices[:, self.body.candidate_vertex_ids]  # [B, Vc, 3]
        lo = cand.amin(1) - self.settings.body_margin
        hi = cand.amax(1) + self.settings.body_margin
        return ((x_t >= lo[:, None, None]) & (x_t <= hi[:, None, None])).all(-1)

    def _sample_transforms(self, x_t: torch.Tensor, rows: int, cols: int, body_out: BodyOutput) -> torch.Tensor:
        """Reference: skinning of every sample, D^p on the [S, rows, cols] ray-sample grid."""
        b, r, s_n, _ = x_t.shape
        sk = inverse_skinning(x_t.reshape(b, -1, 3), body_out, self.body.candidate_vertex_ids,
                              return_transforms=True)
        grid = sk.transforms.reshape(b, rows, cols, s_n, 16).permute(0, 4, 3, 1, 2)  # [B, 16, S, H, W]
        smooth = self.pose_deformer(grid) if self.settings.pose_deformer else grid
        return smooth.permute(0, 3, 4, 2, 1).reshape(b, r, s_n, 4, 4)

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


def radiance_latent(settings: RenderSettings, face_id: torch.Tensor, noise: torch.Tensor,
                    betas: torch.Tensor) -> torch.Tensor:
    """The latent of phi's and U's mappings: [face_id, eps] (+ betas with
    ``settings.radiance_betas``) -> [B, z_dim]."""
    parts = [face_id, noise] + ([betas] if settings.radiance_betas else [])
    return torch.cat(parts, -1)


def _put(target: torch.Tensor, i: int, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``target`` with ``target[i][mask] = values`` (out of place, so autograd follows it)."""
    row = target[i].masked_scatter(mask.unsqueeze(-1) if target.dim() == 4 else mask, values)
    return torch.cat([target[:i], row.unsqueeze(0), target[i + 1:]])


def _to_image(values: torch.Tensor, res: int) -> torch.Tensor:
    """[B, R, C] row-major -> [B, C, res, res]."""
    return values.view(values.shape[0], res, res, -1).permute(0, 3, 1, 2).contiguous()
