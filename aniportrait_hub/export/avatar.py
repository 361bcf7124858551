"""A portrait as an ordinary rigged mesh avatar (issue 32): layered meshes, one per manifold.

M is unconditioned and every manifold a height field over canonical (x, y), so the manifolds'
surfaces are the same triangle grids for every person (:meth:`AniPortraitGAN.manifold_heights`);
a person is only their radiance maps. An avatar is therefore:

- **geometry**: each level's bake grid (the texels' canonical points), triangulated, with the
  cells that stay transparent for this person pruned (``alpha_floor``), the cells no view within
  +-30 deg composites (inner layers behind the skin: ``seen_views``, found with the renderer's own
  intersections and weights), and cells across a jump of the height field (two sheets of one
  level) left out;
- **texture**: the person's super-resolved RGBA maps (colour and opacity per level) as one atlas;
- **skin**: canonical space is the body's neutral pose, so a vertex is skinned like the body
  around it (the body's SMPL joint tree; blend weights averaged over its nearest body vertices
  with a Gaussian of distance, top 4). The renderer smooths nearest-vertex transforms with D^p
  instead, learned, and D^p's correction for long hair is only approximated by that average:
  ``benchmarks/realtime.py`` measures what it costs in turned heads (the ``head_turn`` column);
- **morph targets**: the 52 ARKit units. D^e maps a deformed point to canonical space
  (x_c = x + D^e(x)), so the forward position of a canonical vertex under unit k alone is the
  fixed point x = x_c - D^e(x; e_k) (a few iterations); the target is its offset from the
  neutral fixed point, kept only where D^e acts (its support region);
- **draw order**: levels are nested shells whose first crossings come in level order along
  the camera's rays, so they are drawn back to front (the last level first) with alpha blending
  and no depth test: the volumetric renderer's front-to-back compositing, per pixel, while the
  shells do not cross. The file lists the primitives in that order; the player sets three.js's
  ``renderOrder`` from it;
- **the mouth's dark interior** (:class:`AvatarMouth`): the volumetric renderer multiplies the
  colour of a ray whose first hit on the expressive face model is the mouth cavity by a tint
  (``RenderSettings.mouth_cavity``); the maps cannot hold it, since the opened interior lies
  behind the closed lips at the same canonical (x, y). The avatar carries the same rule as
  geometry: the face model's mesh (its expression as morph targets, rigid with the head joint,
  as the renderer carries its rays) drawn after the layers into the depth buffer only, then its
  cavity triangles where they are that first hit (depth test less-or-equal), multiplying the
  colour by the tint. Plain glTF has no multiplicative blend, so the file marks both primitives
  (``extras.aniportrait``) and gives them fully transparent masked materials: a generic viewer
  (Blender, three.js's own viewer) shows the avatar without them, our raster path and player
  apply the rule.

:func:`build_avatar` makes it, :func:`~aniportrait_hub.export.gltf.write_glb` writes it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

#: SMPL's joint names, in its order (the skin's joints).
SMPL_JOINTS = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
               "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
               "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hand", "right_hand")


@dataclasses.dataclass
class AvatarConfig:
    """Export settings (our choices)."""

    texture: int = 512
    """Side of each level's texture in the atlas (the super-resolved maps are resampled)."""
    stride: int = 1
    """Every ``stride``-th row and column of the bake grid become vertices (2: a quarter of the
    triangles, for software WebGL)."""
    alpha_floor: float = 2 / 255
    """A grid cell is kept where any of its corners is at least this opaque."""
    seen_views: tuple[tuple[float, float], ...] = ((0, 0), (-30, 0), (30, 0), (0, -30), (0, 30), (-20, 20), (20, -20))
    """(camera yaw, head yaw) in degrees of the views whose composite (the renderer's own
    intersections and compositing weights) decides which cells are seen: a cell is kept only
    where some view gives one of its corners a weight above ``seen_floor`` (empty: keep every
    cell). Inner layers hidden behind skin cost fill in software WebGL: on seed 0 at stride 3 these
    seven views dropped 33,720 -> 14,238 triangles, took the browser from 8.5 to 16.3 fps at 384^2,
    and left the raster's PSNR against the volumetric renderer unchanged in every benchmark view."""
    seen_floor: float = 0.01
    """The compositing weight a cell must reach in some view of ``seen_views``."""
    max_jump: float = 6.0
    """A cell whose corners' depths differ by more than this many grid spacings spans two sheets
    of the height field and is left out."""
    skin_neighbours: int = 64
    """Body vertices whose blend weights a vertex takes (1: the nearest, as the renderer's inverse
    skinning before D^p; more: a Gaussian-weighted average over ``skin_sigma``, standing in for D^p's
    smoothing of the transforms). Head turned 25 deg, raster against the volumetric renderer, seeds
    0 / 1: nearest 22.4 / 23.0 dB; 16 within 0.02: 22.7 / 23.2; 32 within 0.04: 23.0 / 23.2; 64
    within 0.06: 23.6 / 23.2 (other views unchanged)."""
    skin_sigma: float = 0.06
    """Width of that average (world units)."""
    morph_targets: bool = True
    """Export the 52 ARKit units as morph targets."""
    morph_iterations: int = 4
    """Fixed-point iterations of the forward expression map."""
    morph_floor: float = 1e-4
    """Offsets shorter than this (world units) are dropped from the sparse morph targets."""
    mouth: bool = True
    """Export the mouth's dark interior (:class:`AvatarMouth`) where the model's renderer tints it
    (``RenderSettings.mouth_cavity`` with ``expression_hold``)."""
    mouth_margin: float = 0.3
    """The depth pass keeps the face triangles that meet the cavity's (x, y) bounding box (over
    every unit at full intensity), grown by this fraction of its size on each side, at any
    depth: only they can be in front of the interior in the views the avatar is for (the whole
    face is 9,130 triangles in the open face model, more than half a stride-3 avatar; 0.3 keeps
    5.6-6.4k of them and every benchmark view unchanged, 0.15 lost 0.02 dB at yaw +-20 deg)."""


@dataclasses.dataclass
class AvatarLevel:
    """One manifold's mesh. N vertices, T triangles."""

    positions: np.ndarray
    """[N, 3] float32 neutral pose, world units."""
    uv: np.ndarray
    """[N, 2] float32 atlas coordinates (glTF: origin top left)."""
    indices: np.ndarray
    """[T, 3] uint32."""
    joints: np.ndarray
    """[N, 4] uint16 skin joints."""
    weights: np.ndarray
    """[N, 4] float32 skin weights (rows sum to 1)."""
    morphs: np.ndarray | None = None
    """[52, N, 3] float32 morph target offsets (None: none)."""


@dataclasses.dataclass
class AvatarMouth:
    """The mouth's dark interior (module docstring): the expressive face model's mesh, rigid with
    the head joint. V vertices."""

    positions: np.ndarray
    """[V, 3] float32 the face's vertices, neutral expression and pose, world units."""
    faces: np.ndarray
    """[F, 3] uint32 every face triangle (the depth pass: which surface a ray meets first)."""
    cavity: np.ndarray
    """[C, 3] uint32 the mouth interior's triangles (drawn where they are that first surface)."""
    tint: tuple[float, float, float]
    """What the interior's colour is multiplied by (``RenderSettings.mouth_cavity``)."""
    morphs: np.ndarray | None = None
    """[52, V, 3] float32 the face model's offsets of each unit alone (None: none)."""


@dataclasses.dataclass
class Avatar:
    """A rigged, layered mesh avatar of one person."""

    levels: list[AvatarLevel]
    """Front (level 0) to back; draw them back to front."""
    atlas: np.ndarray
    """[H, W, 4] uint8 RGBA (straight alpha)."""
    joint_positions: np.ndarray
    """[24, 3] float32 the neutral pose's joints (world units)."""
    joint_parents: np.ndarray
    """[24] int (-1 for the root)."""
    morph_names: list[str]
    info: dict = dataclasses.field(default_factory=dict)
    mouth: AvatarMouth | None = None
    """The mouth's dark interior (None: not exported, or the model's renderer has none)."""

    @property
    def triangles(self) -> int:
        """Triangles drawn per frame (the mouth's depth and interior passes included)."""
        mouth = 0 if self.mouth is None else len(self.mouth.faces) + len(self.mouth.cavity)
        return int(sum(len(lv.indices) for lv in self.levels)) + mouth


def _atlas_layout(levels: int) -> tuple[int, int]:
    """(columns, rows) of level tiles: powers of two, so the atlas is one (WebGL 1 and the glTF
    validator prefer it; the unused tiles cost nothing in the PNG)."""
    cols = 1 << math.ceil(math.log2(max(1, math.ceil(math.sqrt(levels)))))
    return cols, 1 << math.ceil(math.log2(max(1, math.ceil(levels / cols))))


@torch.no_grad()
def build_avatar(pipe, cache, config: AvatarConfig | None = None) -> Avatar:
    """The avatar of one baked identity (``cache``, batch 1) of ``pipe``."""
    import torch.nn.functional as F

    cfg = config or AvatarConfig()
    if cache.maps_hr.shape[0] != 1:
        raise ValueError(f"one identity at a time, got a batch of {cache.maps_hr.shape[0]}")
    st = pipe.render_settings
    pts, valid = pipe.manifold_heights()  # [T, L, 3], [T, L]
    res = st.map_resolution
    n_lv = pts.shape[1]
    pts = pts.view(res, res, n_lv, 3).permute(2, 0, 1, 3).cpu()  # [L, rows, cols, 3]; row 0 = y min
    valid = valid.view(res, res, n_lv).permute(2, 0, 1).cpu()
    alpha = F.interpolate(cache.maps_hr[0, :, 3:4].float().cpu(), size=res, mode="area")[:, 0]  # [L, res, res]
    keep = np.unique(np.r_[np.arange(0, res, cfg.stride), res - 1])  # grid rows / columns kept
    alpha = F.max_pool2d(alpha[:, None], 2 * cfg.stride - 1, 1, cfg.stride - 1)[:, 0] if cfg.stride > 1 else alpha
    pts, valid, alpha = pts[:, keep][:, :, keep], valid[:, keep][:, :, keep], alpha[:, keep][:, :, keep]
    spacing = (st.map_x_range[1] - st.map_x_range[0]) / (res - 1) * cfg.stride
    # atlas: level l at (l % cols, l // cols); each tile's row 0 is the map's row 0 (y min)
    s = cfg.texture
    cols, rows = _atlas_layout(n_lv)
    tiles = F.interpolate(cache.maps_hr[0, :, :4].float().cpu(), size=s, mode="bilinear", align_corners=True)
    atlas = np.full((rows * s, cols * s, 4), 0, np.uint8)
    for lv in range(n_lv):
        r, c = divmod(lv, cols)
        atlas[r * s:(r + 1) * s, c * s:(c + 1) * s] = (tiles[lv].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round()
    # the body: nearest neutral vertex's skinning weights
    body = pipe.renderer().body
    out = body(cache.betas.float().cpu()[:1].to(body.smpl.shapedirs), torch.zeros(1, 6, 3).to(body.smpl.shapedirs))
    neutral = out.neutral_vertices[0].float()
    lbs = body.smpl.lbs_weights.float().cpu()
    from scipy.spatial import cKDTree  # nearest body vertex: a k-d tree over 6,890 (SMPL) to 14k vertices

    tree = cKDTree(neutral.numpy())
    side = len(keep)
    cell = np.arange(side * side).reshape(side, side)
    seen = _seen_cells(pipe, cache, cfg, res)[:, keep][:, :, keep] if cfg.seen_views else None
    levels, ids = [], []
    for lv in range(n_lv):
        v, a, p = valid[lv].numpy(), alpha[lv].numpy(), pts[lv].numpy()
        z = p[..., 2]
        quad = (v[:-1, :-1] & v[1:, :-1] & v[:-1, 1:] & v[1:, 1:])
        quad &= np.maximum.reduce([a[:-1, :-1], a[1:, :-1], a[:-1, 1:], a[1:, 1:]]) >= cfg.alpha_floor
        if seen is not None:
            sn = seen[lv]
            quad &= sn[:-1, :-1] | sn[1:, :-1] | sn[:-1, 1:] | sn[1:, 1:]
        zc = np.stack([z[:-1, :-1], z[1:, :-1], z[:-1, 1:], z[1:, 1:]])
        quad &= (zc.max(0) - zc.min(0)) <= cfg.max_jump * spacing
        i, j = np.nonzero(quad)
        if len(i) == 0:
            continue
        c00, c10, c01, c11 = cell[i, j], cell[i + 1, j], cell[i, j + 1], cell[i + 1, j + 1]
        tris = np.concatenate([np.stack([c00, c01, c11], 1), np.stack([c00, c11, c10], 1)])
        used, inverse = np.unique(tris, return_inverse=True)
        tris = inverse.reshape(-1, 3).astype(np.uint32)
        # glTF winding: counter-clockwise seen from the front (+z, where the camera is)
        pos = p.reshape(-1, 3)[used].astype(np.float32)
        e1, e2 = pos[tris[:, 1]] - pos[tris[:, 0]], pos[tris[:, 2]] - pos[tris[:, 0]]
        flip = np.cross(e1, e2)[:, 2] < 0
        tris[flip] = tris[flip][:, [0, 2, 1]]
        ri, ci = np.divmod(used, side)
        ri, ci = keep[ri], keep[ci]
        r0, c0 = divmod(lv, cols)
        u = (c0 * s + 0.5 + ci / (res - 1) * (s - 1)) / (cols * s)
        w = (r0 * s + 0.5 + ri / (res - 1) * (s - 1)) / (rows * s)
        if cfg.skin_neighbours > 1:
            dist, near = tree.query(pos, cfg.skin_neighbours)
            g = torch.from_numpy(np.exp(-0.5 * (dist / cfg.skin_sigma) ** 2)).float()
            g = g / g.sum(1, keepdim=True).clamp_min(1e-12)
            wts = (g[..., None] * lbs[torch.from_numpy(near)]).sum(1)
        else:
            _, near = tree.query(pos)
            wts = lbs[near]
        top = wts.topk(4, -1)
        weights = (top.values / top.values.sum(-1, keepdim=True)).numpy().astype(np.float32)
        joint_ids = np.where(weights > 0, top.indices.numpy(), 0).astype(np.uint16)  # unused slots: joint 0
        levels.append(AvatarLevel(pos, np.stack([u, w], 1).astype(np.float32), tris,
                                  joint_ids, weights))
        ids.append(lv)
    names = list(pipe.face_model().exp_names)
    film = _expression_forward(pipe, cache, levels, names, cfg)
    parents = body.smpl.parents.cpu().numpy().astype(int).copy()
    parents[0] = -1
    mouth = _mouth(pipe, film, cfg) if cfg.mouth else None
    return Avatar(levels, atlas, out.joints[0].float().numpy(), parents, names if cfg.morph_targets else [],
                  info={"levels": n_lv, "level_ids": ids, "grid": res, "texture": s}, mouth=mouth)


def _mouth(pipe, film, cfg: AvatarConfig) -> AvatarMouth | None:
    """The mouth interior from the expression film :func:`_expression_forward` made (its guide
    holds the face model's vertices under the neutral expression, then each unit alone)."""
    st, r = pipe.render_settings, pipe.renderer()
    if st.mouth_cavity is None or not st.expression_hold or film.guide is None or film.guide.faces is None:
        return None
    faces = film.guide.faces.cpu()
    pts = film.guide.points[:, :int(faces.max()) + 1].float().cpu()  # [1 (+ 52), V, 3]
    cavity = r._cavity_triangles().cpu()
    corners = pts[:, faces[cavity].reshape(-1), :2].reshape(-1, 2)
    lo, hi = corners.amin(0), corners.amax(0)
    grow = (hi - lo) * cfg.mouth_margin
    xy = pts[:, faces, :2]  # [E, F, 3, 2]
    near = ((xy >= lo - grow) & (xy <= hi + grow)).all(-1).any(-1).any(0)  # [F]: a corner inside, any unit
    faces, cavity = faces[near], cavity[near]
    morphs = None
    if cfg.morph_targets:
        morphs = (pts[1:] - pts[:1]).numpy()
        morphs[np.linalg.norm(morphs, axis=-1) < cfg.morph_floor] = 0
    return AvatarMouth(pts[0].numpy().astype(np.float32), faces.numpy().astype(np.uint32),
                       faces[cavity].numpy().astype(np.uint32), tuple(float(t) for t in st.mouth_cavity), morphs)


@torch.no_grad()
def _seen_cells(pipe, cache, cfg: AvatarConfig, res: int, side: int = 192) -> np.ndarray:
    """[L, res, res] bool: texels that some view of ``cfg.seen_views`` composites with a weight
    above ``cfg.seen_floor`` (the renderer's own intersections and weights), grown by a texel."""
    import torch.nn.functional as F

    r, st = pipe.renderer(), pipe.render_settings
    n_lv = cache.maps_lr.shape[1]
    hit = torch.zeros(n_lv, res * res)
    for cam_yaw, head_yaw in cfg.seen_views:
        eul = torch.zeros(1, 6, 3)
        eul[0, 3, 1] = math.radians(head_yaw)
        cam = torch.tensor([[math.pi / 2, math.pi / 2 + math.radians(cam_yaw)]])
        geo, _ = r.view_geometry(cache, torch.zeros(1, len(pipe.face_model().exp_names)), eul, cam, side, 64,
                                 pipe.field_grid())
        w = r.shade(geo, cache.maps_hr).weights[0]  # [R, L]
        xy = geo.xy[0]  # [R, L, 2]
        ix = ((xy[..., 0] - st.map_x_range[0]) / (st.map_x_range[1] - st.map_x_range[0]) * (res - 1)).round().long()
        iy = ((xy[..., 1] - st.map_y_range[0]) / (st.map_y_range[1] - st.map_y_range[0]) * (res - 1)).round().long()
        ok = (w > cfg.seen_floor) & (geo.valid[0] > 0) & (ix >= 0) & (ix < res) & (iy >= 0) & (iy < res)
        lv = torch.arange(n_lv).expand_as(ix)
        hit.index_put_((lv[ok], (iy * res + ix)[ok]), torch.ones(int(ok.sum())), accumulate=False)
    hit = F.max_pool2d(hit.view(n_lv, 1, res, res), 3, 1, 1)[:, 0]
    return (hit > 0).numpy()


def _expression_forward(pipe, cache, levels: list[AvatarLevel], names: list[str], cfg: AvatarConfig):
    """The neutral expression's forward map of each level's vertices (in place) and, with
    ``cfg.morph_targets``, the [52, N, 3] offsets of each unit alone from it (module docstring).
    Returns D^e's modulation of those expressions (the neutral one first)."""
    de = pipe.expression_deformer
    units = len(names)
    exps = torch.cat([torch.zeros(1, units), torch.eye(units)]) if cfg.morph_targets else torch.zeros(1, units)
    k = exps.shape[0]
    film = pipe.renderer().expression_film(cache.face_id[:1].float().cpu().expand(k, -1),
                                           cache.betas[:1].float().cpu().expand(k, -1), exps)
    for lv in levels:
        x_c = torch.from_numpy(lv.positions)
        inside = (de.region_weight(x_c) > 0).numpy()
        lv.morphs = np.zeros((units, len(x_c), 3), np.float32) if cfg.morph_targets else None
        if not inside.any():
            continue
        pts = x_c[inside].unsqueeze(0).expand(k, -1, -1).contiguous()
        x = pts.clone()
        for _ in range(cfg.morph_iterations):
            x = pts - de(x, film)
        lv.positions[inside] = x[0].numpy()  # the neutral expression's own forward map
        if cfg.morph_targets:
            d = (x[1:] - x[:1]).numpy()
            d[np.linalg.norm(d, axis=-1) < cfg.morph_floor] = 0
            lv.morphs[:, inside] = d
    return film
