"""The renderer's constants (:class:`RenderSettings`, saved in the pipeline config) and the
latent of phi's and U's mappings (:func:`radiance_latent`)."""

from __future__ import annotations

import dataclasses

import torch


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


def radiance_latent(settings: RenderSettings, face_id: torch.Tensor, noise: torch.Tensor,
                    betas: torch.Tensor) -> torch.Tensor:
    """The latent of phi's and U's mappings: [face_id, eps] (+ betas with
    ``settings.radiance_betas``) -> [B, z_dim]."""
    parts = [face_id, noise] + ([betas] if settings.radiance_betas else [])
    return torch.cat(parts, -1)
