"""Teacher training of the default model: the synthetic renderer supervises every network where
it knows the answer, in 3D, without rendering a single image (issue: the embedded default model).

    python train/teacher.py --out runs/teacher [--identities 320] [--radiance_minutes 40] ...

Phases, each checkpointed into ``OUT`` (a killed run resumes at the phase it was in):

0. ``data``: K synthetic people (the synthesizer's identities, held-out ones skipped); for each,
   the teacher's canonical surface over the radiance-map grid (:mod:`aniportrait_hub.data.canonical`:
   supersampled at the bake resolution, one ray per texel at U's resolution), its labels and
   its appearance code (:mod:`aniportrait_hub.data.appearance_code`).
1. ``manifold``: M regressed onto a level field that brackets all people's canonical surfaces:
   s = 23 at ``front`` (the front-most surface over all people, dilated, plus a margin) falling
   linearly to 8 at ``back`` (the rearmost, minus a margin), so the 24 manifolds are layered
   height fields wrapping every person from the start.
2. ``radiance``: phi at the bake points (where the 24 manifolds meet the baking rays): opacity
   against the teacher's coverage (a point behind the surface is inside), colour against the
   surface colour, for each person's latent [face_id, appearance code + free noise, betas].
   ``face``: the same, continued with the face's texels sampled ``face_weight`` times as
   often (eyes, brows, lips are a few percent of the surface; phi learns the body first).
3. ``expression``: D^e against the face model's expression offsets (Eq. 10) at face vertices,
   with the smoothness and minimal-deformation terms (Eq. 12-13) in its support box.
4. ``superres``: U from phi's baked maps (phi frozen) to the teacher's high-resolution maps,
   on random crops.
5. ``export``: the pipeline (priors from the synthesizer's label distribution), its model card
   figures and per-phase pictures.

D^p stays at its box-filter initialisation, which is what Eq. 11 pulls it towards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

if __package__ in (None, ""):  # run as a script: make `train` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aniportrait_hub.conditioning.priors import LabelPriors
from aniportrait_hub.data.appearance_code import CODE_DIM, encode
from aniportrait_hub.data.canonical import canonical_maps, coverage
from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer, sample_labels
from aniportrait_hub.deformation.expression_deformer import ExpressionGuide, imitation_targets, seam_pairs
from aniportrait_hub.models.presets import preset
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from aniportrait_hub.rendering.baking import bake_radiance_maps, manifold_heights, map_grid
from aniportrait_hub.rendering.renderer import radiance_latent

PHASES = ("data", "manifold", "radiance", "face", "expression", "superres", "export")


@dataclasses.dataclass
class TeacherConfig:
    """Run config of the teacher recipe (every value our choice unless it says otherwise)."""

    out: Path = Path("runs/teacher")
    """Run folder (phase checkpoints, data, pictures, ``pipeline/``)."""
    preset: str = "default"
    """Architecture preset of the model."""
    seed: int = 0
    """Seed of the synthesizer (identity i is sample i of this seed) and of training."""
    identities: int = 320
    """Synthetic people taught (held-out samples, index % 10 == 9, are skipped)."""
    high_res: int = 512
    """Teacher map resolution for U (map_resolution x U's scale)."""
    supersample: int = 4
    """Sub-rays per texel side for the bake-resolution targets."""
    workers: int = 2
    """Processes building the teacher data."""
    appearance: str = "derived"
    """Appearance code of a training identity: "derived" = the synthesizer's appearance
    parameters sent to N(0, I) (:mod:`aniportrait_hub.data.appearance_code`). The model's eps
    is exactly that code (``noise_dim`` = CODE_DIM = 15 instead of the reference's 80): free
    random dimensions cost phi a long time to learn to ignore."""
    front_margin: float = 0.012
    """Manifold slab: margin in front of the front-most surface (world units)."""
    back_margin: float = 0.015
    """Manifold slab: margin behind the rearmost surface."""
    min_thickness: float = 0.04
    """Manifold slab: minimum thickness."""
    slab_dilation: int = 7
    """Texels of max/min filtering of the slab bounds (covers silhouettes) before blurring."""
    slab_blur: float = 2.0
    """Gaussian blur (texels) of the slab bounds (keeps M smooth: single crossings per ray)."""
    manifold_steps: int = 3000
    """Adam steps of M."""
    manifold_points: int = 16384
    """Points per M step."""
    radiance_minutes: float = 40.0
    """Wall-clock budget of the radiance phase (it stops at this or ``radiance_steps``)."""
    radiance_steps: int = 100000
    """Step limit of the radiance phase."""
    radiance_batch: int = 4
    """Identities per radiance step."""
    radiance_points: int = 8192
    """Bake points per identity and step."""
    near_weight: float = 6.0
    """Sampling weight of bake points within ``near_band`` of the surface (others 1)."""
    near_band: float = 0.015
    """Near-surface band (world units)."""
    opacity_ramp: float = 0.003
    """Opacity targets soften over this depth (world units)."""
    lr_radiance: float = 2e-4
    """Adam learning rate of phi (cosine decay to 10% over the phase)."""
    lr_mapping_factor: float = 1.0
    """Learning rate factor of phi's mapping network."""
    rgb_weight: float = 2.0
    """Weight of the colour L1 against the opacity BCE."""
    lr_plane: float = 5e-3
    """Adam learning rate of phi's feature plane, if it has one (a table: each cell moves by
    about the learning rate a step whatever its gradient's scale)."""
    add_plane: bool = False
    """Warm start: give a loaded stage's plane-less phi the preset's feature plane
    (:meth:`RadianceGenerator.with_plane`; renders unchanged until trained). How the shipped
    model, whose phi predates the plane, got one."""
    face_minutes: float = 15.0
    """Wall-clock budget of the face phase (radiance continued, face-weighted sampling)."""
    face_weight: float = 8.0
    """Face phase: sampling weight factor of texels in ``face_box``."""
    face_box: tuple[float, float, float, float] = (-0.075, 0.075, -0.10, 0.08)
    """Face phase: canonical (x0, x1, y0, y1) of the face (world units; face centre at 0)."""
    lr_face: float = 1e-4
    """Adam learning rate of the face phase (cosine decay to 10%)."""
    expression_bank: int = 2048
    """(person, expression) rows of D^e's precomputed Eq. 10 targets."""
    expression_steps: int = 3000
    """Adam steps of D^e."""
    expression_batch: int = 32
    """Bank rows (people x expressions) per D^e step."""
    expression_vertices: int = 512
    """Face vertices per row and step, drawn at random (0: all of them)."""
    lr_expression: float = 5e-4
    """Adam learning rate of D^e (cosine decay to 10%)."""
    expression_smooth_weight: float = 1e3
    """Weight of D^e's smoothness term (Eq. 12) against 1e4 on the imitation (Eq. 10)."""
    expression_smooth_sigma: float = 0.002
    """Eq. 12's neighbour distance (world units): the std of the perturbation it compares D^e
    across. The face model's offsets jump across the lip seam and the lids (one side still, the
    other moving), which the 1 cm of the first runs smoothed away: with 2 mm (and the offset
    sampling below) blink's face-mesh Spearman went -0.26 -> -0.63 at the same 3,000 steps."""
    renew_expression_deformer: bool = False
    """Before the expression phase, replace the stage's D^e by a new one of the preset's
    architecture (to teach an older stage's D^e anew, e.g. with the preset's expression basis)."""
    expression_offset_sampling: float = 1.0
    """0: a step's face vertices are drawn uniformly; s > 0: with probability proportional to
    ``|offset| + s * mean |offset|`` of their bank row (the lips and lids, which move most)."""
    expression_gap_weight: float = 0.0
    """Weight (against Eq. 10's imitation) of the gap targets: where an expression opens a seam
    (the lips under jawOpen), Eq. 10 has no vertex in the opening, and the minimality term maps
    its points to themselves, so a render shows the canonical lower lip and chin stretched over
    it instead of a mouth. The gap targets send points between the two sides of each opened
    seam (and up to ``expression_gap_depth`` in front of and behind it) to the closed seam, whose
    canonical colour is the dark line between the lips. 0 (default): the paper's losses only.
    Measured (2026-12-02, the shipped D^e taught 2,000 more steps, evaluation's 16 new seeds):
    weight 2 raised jawOpen's Spearman 0.47 -> 0.60; weight 3 (lip pairs only) gave 0.44 and
    blink -0.39, as the imitation RMS rose 0.70 -> 1.31 mm: at this D^e's size the gap targets
    take capacity from Eq. 10, so they are not on by default."""
    expression_gap_points: int = 256
    """Gap points per row and step."""
    expression_gap_depth: float = 0.003
    """Std (world units) of the gap points' offset along the face's forward axis (+z)."""
    superres_minutes: float = 15.0
    """Wall-clock budget of the super-resolution phase."""
    superres_steps: int = 100000
    """Step limit of the super-resolution phase."""
    superres_batch: int = 2
    """Identities per U step."""
    superres_crop: int = 32
    """Low-resolution crop side of a U step (its high-resolution target is x scale)."""
    superres_face_share: float = 0.5
    """Share of U's crops centred on a texel of ``face_box`` (the rest anywhere on the person)."""
    lr_superres: float = 5e-4
    """Adam learning rate of U."""
    priors_rows: int = 4096
    """Rows of the exported label priors (drawn from the synthesizer's label distribution)."""
    device: str = "cpu"
    """Torch device ("cuda" on a GPU)."""
    threads: int = 0
    """CPU threads (0: torch's default)."""
    log_every: int = 50
    """Steps between log lines (``log.jsonl``)."""
    preview_every: int = 500
    """Steps between preview pictures (``previews/``) in the radiance and U phases (0: none)."""

    def validate(self) -> None:
        if self.identities < 2:
            raise ValueError(f"identities must be >= 2, got {self.identities}")
        if self.appearance != "derived":
            raise ValueError(f"appearance must be 'derived', got {self.appearance!r}")
        if self.supersample < 1 or self.high_res < 16:
            raise ValueError("supersample must be >= 1 and high_res >= 16")


# ---------------------------------------------------------------------------------- data
_SYNTH: SyntheticRenderer | None = None


def _init_worker(seed: int) -> None:
    global _SYNTH
    torch.set_num_threads(1)
    _SYNTH = SyntheticRenderer(SynthConfig(seed=seed))


def _teach_one(args):
    index, low, high, ss = args
    person = _SYNTH.person(index)
    maps = canonical_maps(_SYNTH, person, _SYNTH.settings, low, high, ss)
    code = encode(person.look, person.style, np.random.default_rng([_SYNTH.cfg.seed, index, 7]))
    lab = person.labels
    return index, maps, code, lab["face_id"].astype(np.float32), lab["betas"].astype(np.float32)


def training_indices(cfg: TeacherConfig) -> list[int]:
    """Synthesizer sample indices of the taught identities (held-out ones skipped)."""
    out, i = [], 0
    while len(out) < cfg.identities:
        if i % 10 != 9:
            out.append(i)
        i += 1
    return out


def build_data(cfg: TeacherConfig, low_res: int) -> dict:
    """Phase 0: the teacher's maps of every taught identity, saved as ``data.npz``."""
    from multiprocessing import get_context

    idx = training_indices(cfg)
    jobs = [(i, low_res, cfg.high_res, cfg.supersample) for i in idx]
    res = {}
    with get_context("spawn").Pool(cfg.workers, initializer=_init_worker, initargs=(cfg.seed,)) as pool:
        for index, maps, code, face_id, betas in tqdm(pool.imap_unordered(_teach_one, jobs), total=len(jobs),
                                                        desc="teacher data"):
            res[index] = (maps, code, face_id, betas)
    order = sorted(res)
    data = {"index": np.array(order), "z_lr": np.stack([res[i][0].z_lr for i in order]),
            "rgb_lr": np.stack([res[i][0].rgb_lr for i in order]),
            "z_hr": np.stack([res[i][0].z_hr for i in order]),
            "rgb_hr": np.stack([res[i][0].rgb_hr for i in order]),
            "code": np.stack([res[i][1] for i in order]), "face_id": np.stack([res[i][2] for i in order]),
            "betas": np.stack([res[i][3] for i in order])}
    tmp = cfg.out / "data.tmp.npz"
    np.savez(tmp, **data)
    tmp.rename(cfg.out / "data.npz")
    return data


# ---------------------------------------------------------------------------------- phase 1
def slab_bounds(z_lr: np.ndarray, cfg: TeacherConfig) -> tuple[np.ndarray, np.ndarray]:
    """Front and back of the manifold slab over the map grid [r, r] from all people's sub-ray
    hits [K, S, r, r] (NaN = miss): front-most / rearmost surface, filled where nobody is,
    dilated over silhouettes, blurred, margins and minimum thickness applied."""
    from scipy import ndimage

    import warnings

    with warnings.catch_warnings():  # texels nobody covers are all-NaN: filled below
        warnings.simplefilter("ignore", RuntimeWarning)
        zf = np.nanmax(z_lr.astype(np.float32), axis=(0, 1))
        zb = np.nanmin(z_lr.astype(np.float32), axis=(0, 1))
    known = np.isfinite(zf)
    if not known.any():
        raise ValueError("the teacher data holds no surface hits")
    _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
    zf, zb = zf[iy, ix], zb[iy, ix]
    k = cfg.slab_dilation
    zf = ndimage.gaussian_filter(ndimage.maximum_filter(zf, k), cfg.slab_blur, mode="nearest") + cfg.front_margin
    zb = ndimage.gaussian_filter(ndimage.minimum_filter(zb, k), cfg.slab_blur, mode="nearest") - cfg.back_margin
    zb = np.minimum(zb, zf - cfg.min_thickness)
    return zf.astype(np.float32), zb.astype(np.float32)


def level_field(points: torch.Tensor, front: torch.Tensor, back: torch.Tensor, x_range, y_range,
                levels: torch.Tensor) -> torch.Tensor:
    """Target s at canonical points [N, 3]: the first level at ``front``, the last at ``back``
    (bilinear over the map grid, clamped at its border), linear in z between and beyond."""
    gx = (points[:, 0] - x_range[0]) / (x_range[1] - x_range[0]) * 2 - 1
    gy = (points[:, 1] - y_range[0]) / (y_range[1] - y_range[0]) * 2 - 1
    grid = torch.stack([gx, gy], -1).clamp(-1, 1).view(1, 1, -1, 2)
    fb = F.grid_sample(torch.stack([front, back])[None], grid, mode="bilinear", align_corners=True)[0, :, 0]
    hi, lo = levels.max(), levels.min()
    return lo + (hi - lo) * (points[:, 2] - fb[1]) / (fb[0] - fb[1])


def train_manifold(pipe: AniPortraitGAN, data: dict, cfg: TeacherConfig, log) -> dict:
    st = pipe.render_settings
    dev = pipe.device
    front, back = (torch.from_numpy(a).to(dev) for a in slab_bounds(data["z_lr"], cfg))
    m = pipe.manifold
    levels = m.levels.to(dev)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.manifold_steps, 1e-5)
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    lo = torch.tensor([b[0] for b in st.field_bounds])
    hi = torch.tensor([b[1] for b in st.field_bounds])
    m.train()
    for step in tqdm(range(cfg.manifold_steps), desc="manifold"):
        n = cfg.manifold_points
        pts = lo + (hi - lo) * torch.rand(n, 3, generator=g)
        # Half the points inside the slab (+-2 cm), where the levels must sit exactly.
        gx = torch.randint(0, front.shape[1], (n // 2,), generator=g)
        gy = torch.randint(0, front.shape[0], (n // 2,), generator=g)
        u = torch.rand(n // 2, generator=g).to(dev)
        xs = st.map_x_range[0] + (st.map_x_range[1] - st.map_x_range[0]) * gx / (front.shape[1] - 1)
        ys = st.map_y_range[0] + (st.map_y_range[1] - st.map_y_range[0]) * gy / (front.shape[0] - 1)
        zs = (back[gy, gx] - 0.02) + u * (front[gy, gx] - back[gy, gx] + 0.04)
        pts[: n // 2] = torch.stack([xs, ys, zs.cpu()], -1)
        pts = pts.to(dev)
        target = level_field(pts, front, back, st.map_x_range, st.map_y_range, levels)
        loss = (m(pts) - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % cfg.log_every == 0 or step == cfg.manifold_steps - 1:
            log({"phase": "manifold", "step": step, "l1_s": loss.item()})
    m.eval()
    # Report: level error inside the slab, in world units.
    with torch.no_grad():
        pts = torch.stack([xs, ys, zs.cpu()], -1).to(dev)
        err = (m(pts) - level_field(pts, front, back, st.map_x_range, st.map_y_range, levels)).abs()
        slope = (levels.max() - levels.min()) / (front[gy, gx] - back[gy, gx])
        return {"slab_l1_s": err.mean().item(), "slab_error_mm": (err / slope).mean().item() * 1000,
                "slab_thickness_mm_mean": float((front - back).mean()) * 1000,
                "slab_thickness_mm_max": float((front - back).max()) * 1000}


# ---------------------------------------------------------------------------------- phase 2
def identity_latent(pipe: AniPortraitGAN, data: dict, ids: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """[face_id, eps, betas] of training identities ``ids`` (eps = the appearance code; any
    further eps dimensions a pipeline has are drawn afresh, so phi learns to ignore them)."""
    noise = torch.randn(len(ids), pipe.priors.config.noise_dim, generator=g)
    noise[:, :CODE_DIM] = torch.from_numpy(data["code"][ids.numpy()])
    face_id = torch.from_numpy(data["face_id"][ids.numpy()])
    betas = torch.from_numpy(data["betas"][ids.numpy()])
    return radiance_latent(pipe.render_settings, face_id, noise, betas).to(pipe.device)


def preview(pipe: AniPortraitGAN, data: dict, path: Path, rows: tuple[int, ...] = (0, 1, 2, 3),
            resolution: int = 256) -> None:
    """Frontal renders of training identities ``rows`` (top) above the teacher's canonical
    colours (bottom), one PNG."""
    from PIL import Image

    from aniportrait_hub.pipelines.pipeline import PortraitLatents

    was = {m: getattr(pipe, m).training for m in ("radiance", "superres")}
    for m in was:
        getattr(pipe, m).eval()
    pipe.reset_runtime()
    tiles = []
    for i in rows:
        noise = torch.zeros(1, pipe.priors.config.noise_dim)
        noise[0, :CODE_DIM] = torch.from_numpy(data["code"][i])
        lat = PortraitLatents(torch.from_numpy(data["face_id"][i:i + 1]), torch.from_numpy(data["betas"][i:i + 1]),
                              noise)
        cache = pipe.bake_identity(lat, truncation_psi=1.0)
        out = pipe.render_frame(cache, torch.zeros(1, pipe.assets.config.exp_dim), torch.zeros(1, 6, 3),
                                torch.tensor([[math.pi / 2, math.pi / 2]]), resolution=resolution)
        img = (out.image[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
        rgb = data["rgb_hr"][i][::-1]
        hit = np.isfinite(data["z_hr"][i].astype(np.float32))[::-1]
        teacher = np.where(hit[..., None], rgb, 255).astype(np.uint8)
        teacher = np.asarray(Image.fromarray(teacher).resize((resolution, resolution)))
        tiles.append(np.concatenate([img, teacher], 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, 1)).save(path)
    pipe.reset_runtime()
    for m, t in was.items():
        getattr(pipe, m).train(t)


def cosine_factor(frac: float) -> float:
    """Learning-rate factor of a phase ``frac`` of the way through: cosine from 1 down to 0.1."""
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(frac, 1.0)))


def face_texels(pipe: AniPortraitGAN, cfg: TeacherConfig) -> torch.Tensor:
    """[res, res] bool: the bake texels inside ``cfg.face_box`` (rows = y, as the maps)."""
    st = pipe.render_settings
    r = st.map_resolution
    xy = map_grid(r, st.map_x_range, st.map_y_range).view(r, r, 2)
    x0, x1, y0, y1 = cfg.face_box
    return (xy[..., 0] > x0) & (xy[..., 0] < x1) & (xy[..., 1] > y0) & (xy[..., 1] < y1)


def bake_targets(heights, data: dict, i: int, ramp: float):
    """Opacity [T, L] and colour [T, 3] targets of identity row i at the bake points."""
    pts, valid = heights
    z_sub = torch.from_numpy(data["z_lr"][i]).float().flatten(1)  # [S, T]
    alpha = coverage(z_sub[..., None].to(pts.device), pts[..., 2], ramp) * valid  # [T, L]
    rgb = torch.from_numpy(data["rgb_lr"][i].astype(np.float32)).reshape(-1, 3).to(pts.device)
    return alpha, rgb


WARP_LANDMARKS = ("left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
                  "left_mouth_corner", "right_mouth_corner")


@torch.no_grad()
def face_landmarks_xy(pipe: AniPortraitGAN, face_id: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Canonical (x, y) [B, 6, 2] of the eye corners and mouth corners (``WARP_LANDMARKS``) of
    people (face_id, betas): the neutral body with its face-model identity offsets, as the
    teacher's canonical mesh."""
    body, fm = pipe.renderer().body, pipe.face_model()
    ids = torch.tensor([body.landmark_vertex_ids[k] for k in WARP_LANDMARKS], device=pipe.device)
    offs = fm.body_offsets(face_id.to(pipe.device), None, vertex_ids=ids)
    out = body(betas.to(pipe.device), torch.zeros(len(betas), 6, 3, device=pipe.device), rest_offsets=offs,
               vertex_ids=ids)
    return out.neutral_vertices[..., :2]


def _warp_targets(lm: torch.Tensor) -> torch.Tensor:
    """Per-person warp (log kx, log ky, cx, cy) [B, 4] taking landmarks [B, 6, 2] onto these
    people's mean face (anchor between eyes and mouth; eye spacing, eye-mouth height)."""
    eyes, mouth = lm[:, :4].mean(1), lm[:, 4:].mean(1)
    anchor = (eyes + mouth) / 2
    size = torch.stack([(lm[:, 0:2, 0].mean(1) - lm[:, 2:4, 0].mean(1)).abs(), eyes[:, 1] - mouth[:, 1]], -1)
    k = size.mean(0) / size
    return torch.cat([k.log(), anchor.mean(0) - anchor * k], -1)


@torch.no_grad()
def fit_plane_warp(pipe: AniPortraitGAN, cfg: TeacherConfig, rows: int = 4096) -> dict:
    """Set phi's ``plane_warp`` so that every person's eyes and mouth land where the average
    person's do on the feature plane: per person the axis-aligned scale + shift taking the
    eye-corner and mouth-corner centres and spacings onto the mean, regressed (least squares) on
    [face_id, betas] (the landmarks are linear in them; the scales nearly so; a latent without
    betas, ``radiance_betas`` off, aligns only what the face identity explains). Reports the
    spread of the eye / mouth centres over ``rows`` synthesizer people before and after (mm)."""
    rng = np.random.default_rng([cfg.seed, 11])
    names = pipe.face_model().exp_names
    labs = [sample_labels(rng, SynthConfig(), names) for _ in range(rows)]
    face_id = torch.tensor(np.stack([lb["face_id"] for lb in labs]), dtype=torch.float32)
    betas = torch.tensor(np.stack([lb["betas"] for lb in labs]), dtype=torch.float32)
    lm = face_landmarks_xy(pipe, face_id, betas).cpu()
    target = _warp_targets(lm)
    z = radiance_latent(pipe.render_settings, face_id, torch.zeros(rows, pipe.priors.config.noise_dim), betas)
    used = torch.ones(z.shape[1], dtype=torch.bool)
    k = face_id.shape[1]
    used[k:k + pipe.priors.config.noise_dim] = False  # eps: appearance only
    design = torch.cat([z[:, used], torch.ones(rows, 1)], 1).double()
    sol = torch.linalg.lstsq(design, target.double()).solution.float()
    w = torch.zeros(z.shape[1] + 1, 4)
    w[torch.cat([used, torch.tensor([True])])] = sol
    pipe.radiance.plane_warp.copy_(w.to(pipe.radiance.plane_warp))
    warp = pipe.radiance.warp_of(z.to(pipe.device)).cpu()
    moved = lm * warp[:, None, :2].exp() + warp[:, None, 2:]

    def spread(p):  # mean distance of the eye and mouth centres from their means, mm
        c = torch.stack([p[:, :2].mean(1), p[:, 2:4].mean(1), p[:, 4:].mean(1)], 1)
        return float((c - c.mean(0)).norm(dim=-1).mean() * 1000)

    return {"warp_rows": rows, "landmark_spread_mm": spread(lm), "landmark_spread_warped_mm": spread(moved),
            "warp_fit_rms": float((warp - target).pow(2).mean().sqrt())}


@torch.no_grad()
def bake_colour_error(pipe: AniPortraitGAN, data: dict, cfg: TeacherConfig, rows: int = 16,
                      heights: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Colour L1 of phi's bake against the teacher, seen frontally: the first ``rows`` taught
    people's baked levels composited front to back on white, against the teacher's canonical
    colour, over the texels the teacher covers (all of them and those in ``face_box``)."""
    heights = heights if heights is not None else pipe.renderer().manifold_heights()
    pts, valid = heights
    order = pts[..., 2].masked_fill(~valid, -9.0).argsort(-1, descending=True)  # [T, L] front first
    in_face = face_texels(pipe, cfg).flatten().to(pts.device)
    r = pipe.render_settings.map_resolution
    g = torch.Generator().manual_seed(cfg.seed + 5)
    errs, face_errs = [], []
    for i in range(min(rows, len(data["index"]))):
        film = pipe.radiance.mapping(identity_latent(pipe, data, torch.tensor([i]), g))
        maps = bake_radiance_maps(heights, pipe.radiance, film, r)[0].flatten(2).permute(2, 0, 1)  # [T, L, C]
        maps = maps.gather(1, order[..., None].expand(-1, -1, maps.shape[-1]))
        a = maps[..., 3]
        trans = torch.cumprod(torch.cat([a.new_ones(a.shape[0], 1), 1 - a[:, :-1]], 1), 1)
        w = trans * a
        rgb = (w[..., None] * maps[..., :3]).sum(1) + (1 - w.sum(1, keepdim=True))  # on white
        hit = torch.from_numpy(np.isfinite(data["z_lr"][i].astype(np.float32)).mean(0) > 0.5).flatten()
        target = torch.from_numpy(data["rgb_lr"][i].astype(np.float32)).reshape(-1, 3)
        e = (rgb.cpu() - target).abs().mean(-1)
        errs.append(e[hit].mean().item())
        face_errs.append(e[hit & in_face.cpu()].mean().item())
    return {"bake_rgb_l1": float(np.mean(errs)), "bake_rgb_l1_face": float(np.mean(face_errs)), "bake_rows": len(errs)}


def train_radiance(pipe: AniPortraitGAN, data: dict, cfg: TeacherConfig, log, phase: str = "radiance") -> dict:
    """Phase 2 (``radiance``) and its face-weighted continuation (``face``)."""
    if phase == "face":
        cfg = dataclasses.replace(cfg, radiance_minutes=cfg.face_minutes, lr_radiance=cfg.lr_face)
    phi = pipe.radiance
    warp_report = {}
    if phi.plane is not None and not phi.plane_warp.any():  # a new plane: align it first
        warp_report = fit_plane_warp(pipe, cfg)
        log({"phase": phase, "step": 0, **warp_report})
    heights = pipe.renderer().manifold_heights()
    pts, valid = heights
    t_n, l_n, _ = pts.shape
    mapping_params = list(phi.mapping_net.parameters())
    plane = [phi.plane] if phi.plane is not None else []
    ids_m = {id(p) for p in mapping_params + plane}
    bases = (cfg.lr_radiance, cfg.lr_radiance * cfg.lr_mapping_factor, cfg.lr_plane)
    opt = torch.optim.Adam([{"params": [p for p in phi.parameters() if id(p) not in ids_m]},
                            {"params": mapping_params, "lr": bases[1]}, {"params": plane, "lr": bases[2]}],
                           lr=cfg.lr_radiance, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(cfg.seed + (1 if phase == "radiance" else 2))
    k = len(data["index"])
    texel_weight = torch.ones(t_n, device=pts.device)
    if phase == "face":
        in_face = face_texels(pipe, cfg).flatten().to(pts.device)
        texel_weight[in_face] = cfg.face_weight
    # Front-most sub-ray hit per texel and identity (for near-surface sampling), once.
    front = [torch.from_numpy(np.nan_to_num(z.astype(np.float32), nan=-9.0).max(0)).flatten().to(pts.device)
             for z in data["z_lr"]]
    start = time.time()
    phi.train()
    step = 0
    ema = None
    bar = tqdm(total=cfg.radiance_steps, desc=phase)
    while step < cfg.radiance_steps and time.time() - start < cfg.radiance_minutes * 60:
        # Cosine decay over the phase's budget (time or steps, whichever ends it), to 10%.
        frac = max(step / cfg.radiance_steps, (time.time() - start) / (cfg.radiance_minutes * 60))
        for grp, base in zip(opt.param_groups, bases):
            grp["lr"] = base * cosine_factor(frac)
        ids = torch.randint(0, k, (cfg.radiance_batch,), generator=g)
        z = identity_latent(pipe, data, ids, g)
        film = phi.mapping(z)
        p_list, a_list, c_list = [], [], []
        for i in ids.tolist():
            alpha, rgb = bake_targets(heights, data, i, cfg.opacity_ramp)
            near = ((pts[..., 2] - front[i][:, None]).abs() < cfg.near_band) & valid
            w = (1.0 + (cfg.near_weight - 1.0) * near.float()) * valid.float() * texel_weight[:, None]
            sel = torch.multinomial(w.flatten().cpu(), cfg.radiance_points, replacement=True,
                                    generator=g).to(pts.device)
            p_list.append(pts.reshape(-1, 3)[sel])
            a_list.append(alpha.flatten()[sel])
            c_list.append(rgb[sel // l_n])
        p = torch.stack(p_list)
        view = p.new_tensor([0.0, 0.0, -1.0]).expand_as(p)
        out = phi(p, view, film)
        a_t, c_t = torch.stack(a_list), torch.stack(c_list)
        alpha = (1 - torch.exp(-0.04 * F.softplus(out.sigma))).clamp(1e-5, 1 - 1e-5)
        bce = F.binary_cross_entropy(alpha, a_t)
        rgb_l1 = ((out.rgb - c_t).abs().mean(-1) * (a_t + 0.05)).sum() / (a_t + 0.05).sum()
        loss = bce + cfg.rgb_weight * rgb_l1
        if not torch.isfinite(loss):
            raise RuntimeError(f"radiance step {step}: non-finite loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        vals = {"bce": bce.item(), "rgb_l1": rgb_l1.item(), "alpha_l1": (alpha - a_t).abs().mean().item()}
        ema = vals if ema is None else {kk: 0.98 * ema[kk] + 0.02 * v for kk, v in vals.items()}
        if step % cfg.log_every == 0:
            log({"phase": phase, "step": step, "seconds": time.time() - start, **vals})
            bar.set_postfix(bce=f"{ema['bce']:.3f}", rgb=f"{ema['rgb_l1']:.3f}")
        if cfg.preview_every and step % cfg.preview_every == 0:
            preview(pipe, data, cfg.out / "previews" / f"{phase}_{step:06d}.png")
        step += 1
        bar.update()
    bar.close()
    phi.eval()
    if cfg.preview_every:
        preview(pipe, data, cfg.out / "previews" / f"{phase}_{step:06d}_final.png")
    return {"steps": step, "seconds": time.time() - start, **{f"final_{kk}": v for kk, v in ema.items()},
            **bake_colour_error(pipe, data, cfg, heights=heights), **warp_report}


# ---------------------------------------------------------------------------------- phase 3
def renewed_expression(pipe: AniPortraitGAN, cfg: TeacherConfig) -> AniPortraitGAN:
    """``pipe`` with a new D^e of the preset's architecture (and the preset's
    ``expression_at_samples``, ``expression_hold`` and ``mouth_cavity``) if
    ``cfg.renew_expression_deformer``."""
    if cfg.renew_expression_deformer:
        from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer

        old = pipe.expression_deformer.config
        p = preset(cfg.preset)
        de = ExpressionDeformer(id_dim=old.id_dim, exp_dim=old.exp_dim, **p["expression_deformer"])
        pipe.register_modules(expression_deformer=de.to(pipe.device))
        # Where D^e runs (grid or samples, held behind the face) belongs to it: the preset's
        # choice comes with it.
        where = {k: p["render"].get(k, False) for k in ("expression_at_samples", "expression_hold")}
        where["mouth_cavity"] = p["render"].get("mouth_cavity")
        pipe.register_to_config(render_settings={**pipe.render_settings.to_dict(), **where})
        pipe.reset_runtime()
    return pipe


def gap_targets(x_p: torch.Tensor, target: torch.Tensor, pairs: torch.Tensor, n: int, depth: float,
                g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points in the openings of ``pairs`` ([P, 2]) of bank rows x_p / target ([B, V, 3]) and the
    offsets that send them to the closed seam: x = u' + t (l' - u') + d z, offset = (u + l) / 2 - x
    + d z with u, l the pair's neutral positions (so the offset is constant along the depth
    jitter d). Returns (x [B, n, 3], offset [B, n, 3], weight [B, n]: 1 where the pair has
    parted by more than 2 mm beyond its neutral distance in that row, else 0)."""
    b, dev = x_p.shape[0], x_p.device
    pick = pairs[torch.randint(0, pairs.shape[0], (b, n), generator=g).to(dev)]  # [B, n, 2]
    rows = torch.arange(b, device=dev)[:, None]
    up, lp = x_p[rows, pick[..., 0]], x_p[rows, pick[..., 1]]
    un, ln = up + target[rows, pick[..., 0]], lp + target[rows, pick[..., 1]]
    t = torch.rand(b, n, 1, generator=g).to(dev)
    x = up + t * (lp - up)
    offset = (un + ln) / 2 - x
    dz = torch.randn(b, n, 1, generator=g).to(dev) * depth
    x = x + dz * x.new_tensor([0.0, 0.0, 1.0])
    weight = ((lp - up).norm(dim=-1) - (ln - un).norm(dim=-1) > 0.002).to(x.dtype)
    return x, offset, weight


def train_expression(pipe: AniPortraitGAN, cfg: TeacherConfig, log) -> dict:
    de = pipe.expression_deformer
    body = pipe.renderer().body
    fm = pipe.face_model()
    dev = pipe.device
    rng = np.random.default_rng([cfg.seed, 3])
    names = fm.exp_names
    opt = torch.optim.Adam(de.parameters(), cfg.lr_expression)
    cfgc = de.config
    c, h = torch.tensor(cfgc.region_center, device=dev), torch.tensor(cfgc.region_half_size, device=dev)
    synth = SynthConfig()
    n_face = fm.body_vertex_ids.shape[0]
    # The bank: Eq. 10 pairs at every face vertex for ``expression_bank`` (person, expression)
    # rows, computed once (the body model costs far more than D^e, and a step then sees many
    # expressions: with 8 rows a step D^e explained 10% of the offsets after 600 steps).
    bank_exp, bank_id, bank_x, bank_t = [], [], [], []
    for start in tqdm(range(0, cfg.expression_bank, 32), desc="expression bank"):
        n = min(32, cfg.expression_bank - start)
        labs = [sample_labels(rng, synth, names) for _ in range(n)]
        exp = np.stack([lb["expression"] for lb in labs])
        # Half the rows: single units at random intensity (what sweeps and trackers ask for).
        for r in range(n // 2):
            exp[r] = 0
            exp[r, rng.integers(len(names))] = rng.uniform(0, 1)
        face_id = torch.tensor(np.stack([lb["face_id"] for lb in labs]), dtype=torch.float32, device=dev)
        betas = torch.tensor(np.stack([lb["betas"] for lb in labs]), dtype=torch.float32, device=dev)
        expression = torch.tensor(exp, dtype=torch.float32, device=dev)
        x_p, target = imitation_targets(body, fm, face_id, betas, expression, fm.body_vertex_ids)
        bank_exp.append(expression), bank_id.append(face_id), bank_x.append(x_p), bank_t.append(target)
    bank_exp, bank_id, bank_x, bank_t = (torch.cat(v) for v in (bank_exp, bank_id, bank_x, bank_t))
    n_rows = bank_exp.shape[0]
    if cfg.expression_offset_sampling > 0:  # vertex sampling weights of every bank row, once
        mag = bank_t.norm(dim=-1)  # [rows, V]
        bank_w = (mag + cfg.expression_offset_sampling * mag.mean(-1, keepdim=True) + 1e-9).cpu()
    n_v = cfg.expression_vertices or n_face
    pairs = seam_pairs(body, fm) if cfg.expression_gap_weight > 0 else None
    g = torch.Generator().manual_seed(cfg.seed + 3)
    guided = cfgc.guide != "none"

    def film_of(rows):  # a guided D^e takes its guide from the bank rows (their face vertices)
        return de.mapping(bank_id[rows], bank_exp[rows],
                          guide=ExpressionGuide(bank_x[rows], bank_t[rows]) if guided else None)

    if guided and not cfgc.guide_residual:
        # Nothing to learn: the face model's guide is D^e. Report how it imitates Eq. 10 between
        # the vertices (points nudged 1 mm off them, as the renderer's samples fall).
        de.eval()
        tail = []
        with torch.no_grad():
            for _ in range(20):
                rows = torch.randint(0, n_rows, (cfg.expression_batch,), generator=g).to(dev)
                verts = torch.randint(0, n_face, (cfg.expression_batch, n_v), generator=g).to(dev)
                x_p = bank_x[rows[:, None], verts]
                x_p = x_p + torch.randn(x_p.shape, generator=g).to(dev) * 0.001
                target = bank_t[rows[:, None], verts]
                tail.append(((de(x_p, film_of(rows)) - target).pow(2).sum(-1).mean().item(),
                             target.pow(2).sum(-1).mean().item()))
        imit, off = (math.sqrt(float(np.mean(v))) * 1000 for v in zip(*tail))
        return {"imitation_rms_mm": imit, "offset_rms_mm": off, "explained_share": 1 - imit / off, "steps": 0,
                "guide": cfgc.guide}
    de.train()
    tail = []  # (imitation mse, offset mse) of the last steps, for the report
    for step in tqdm(range(cfg.expression_steps), desc="expression"):
        for grp in opt.param_groups:
            grp["lr"] = cfg.lr_expression * cosine_factor(step / cfg.expression_steps)
        rows = torch.randint(0, n_rows, (cfg.expression_batch,), generator=g).to(dev)
        if cfg.expression_offset_sampling > 0:
            verts = torch.multinomial(bank_w[rows.cpu()], n_v, replacement=True, generator=g).to(dev)
        else:
            verts = torch.randint(0, n_face, (cfg.expression_batch, n_v), generator=g).to(dev)
        x_p = bank_x[rows[:, None], verts]
        target = bank_t[rows[:, None], verts]
        film = film_of(rows)
        imitation = (de(x_p, film) - target).pow(2).sum(-1).mean()
        gap = imitation.new_zeros(())
        if pairs is not None and len(pairs):
            x_g, t_g, w_g = gap_targets(bank_x[rows], bank_t[rows], pairs, cfg.expression_gap_points,
                                        cfg.expression_gap_depth, g)
            gap = ((de(x_g, film) - t_g).pow(2).sum(-1) * w_g).sum() / w_g.sum().clamp_min(1)
        box = c + (torch.rand(cfg.expression_batch, 256, 3, generator=g).to(dev) * 2 - 1) * h
        d_x = de(box, film)
        shifted = box + torch.randn(box.shape, generator=g).to(dev) * cfg.expression_smooth_sigma
        smooth = (d_x - de(shifted, film)).pow(2).sum(-1).mean()
        minimal = d_x.pow(2).sum(-1).mean()
        loss = 1e4 * (imitation + cfg.expression_gap_weight * gap) + cfg.expression_smooth_weight * smooth + 10.0 * minimal
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        offset_mse = target.pow(2).sum(-1).mean()
        tail = (tail + [(imitation.item(), offset_mse.item())])[-200:]
        if step % cfg.log_every == 0 or step == cfg.expression_steps - 1:
            log({"phase": "expression", "step": step, "imitation_mm": imitation.sqrt().item() * 1000,
                 "gap_mm": gap.sqrt().item() * 1000,
                 "smooth": smooth.item(), "minimal": minimal.item(),
                 "offset_mm": offset_mse.sqrt().item() * 1000})
    de.eval()
    imit, off = (math.sqrt(float(np.mean(v))) * 1000 for v in zip(*tail))
    # Over the last 200 steps: rms of what D^e misses against the rms of the offsets themselves
    # (explained share 0 = no better than no deformation).
    return {"imitation_rms_mm": imit, "offset_rms_mm": off, "explained_share": 1 - imit / off,
            "steps": cfg.expression_steps}


# ---------------------------------------------------------------------------------- phase 4
def train_superres(pipe: AniPortraitGAN, data: dict, cfg: TeacherConfig, log) -> dict:
    u, phi = pipe.superres, pipe.radiance
    st = pipe.render_settings
    dev = pipe.device
    scale = u.config.scale
    r_lo = st.map_resolution
    heights = pipe.renderer().manifold_heights()
    hr_pts, hr_valid = manifold_heights(pipe.manifold, r_lo * scale, st.map_x_range, st.map_y_range,
                                        st.bake_z_range, st.bake_z_samples)
    if data["z_hr"].shape[-1] != r_lo * scale:
        raise ValueError(f"teacher high_res {data['z_hr'].shape[-1]} != map resolution x U's scale "
                         f"{r_lo * scale}")
    pts, valid = heights
    l_n = pts.shape[1]
    pts_img = pts.view(r_lo, r_lo, l_n, 3)
    val_img = valid.view(r_lo, r_lo, l_n)
    hr_img = hr_pts.view(r_lo * scale, r_lo * scale, l_n, 3)
    hv_img = hr_valid.view(r_lo * scale, r_lo * scale, l_n)
    opt = torch.optim.Adam(u.parameters(), cfg.lr_superres, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(cfg.seed + 4)
    k = len(data["index"])
    c = cfg.superres_crop
    pad = 4  # low-resolution context around the crop (U's receptive field; cut off after)
    in_face = face_texels(pipe, cfg).numpy()
    start, step, ema = time.time(), 0, None
    phi.requires_grad_(False)
    u.train()
    bar = tqdm(total=cfg.superres_steps, desc="superres")
    while step < cfg.superres_steps and time.time() - start < cfg.superres_minutes * 60:
        ids = torch.randint(0, k, (cfg.superres_batch,), generator=g)
        z = identity_latent(pipe, data, ids, g)
        with torch.no_grad():
            film = phi.mapping(z)
        style = u.mapping(z)
        loss_sum, vals_sum = 0.0, {"rgb_l1": 0.0, "alpha_l1": 0.0, "base_rgb_l1": 0.0}
        for b, i in enumerate(ids.tolist()):
            # Crops mostly on the person (row/col of a random surface texel).
            hit = np.isfinite(data["z_lr"][i].astype(np.float32)).any(0)
            if float(torch.rand((), generator=g)) < cfg.superres_face_share and (hit & in_face).any():
                hit = hit & in_face
            ys, xs = np.nonzero(hit)
            j = int(torch.randint(0, len(ys), (1,), generator=g))
            y0 = int(np.clip(ys[j] - c // 2, 0, r_lo - c))
            x0 = int(np.clip(xs[j] - c // 2, 0, r_lo - c))
            ya, yb, xa, xb = max(y0 - pad, 0), min(y0 + c + pad, r_lo), max(x0 - pad, 0), min(x0 + c + pad, r_lo)
            sub = (pts_img[ya:yb, xa:xb].reshape(-1, l_n, 3), val_img[ya:yb, xa:xb].reshape(-1, l_n))
            with torch.no_grad():
                maps = bake_radiance_maps(sub, phi, film[b:b + 1],
                                          (yb - ya, xb - xa))
            up = u(maps, style[b:b + 1])[0]  # [L, 4, h*s, w*s]
            oy, ox = (y0 - ya) * scale, (x0 - xa) * scale
            up = up[:, :, oy:oy + c * scale, ox:ox + c * scale]
            # Targets at the high-resolution texels of the crop.
            hy, hx = y0 * scale, x0 * scale
            z_l = hr_img[hy:hy + c * scale, hx:hx + c * scale, :, 2]  # [H, W, L]
            zf = torch.from_numpy(data["z_hr"][i, hy:hy + c * scale, hx:hx + c * scale].astype(np.float32)).to(dev)
            a_t = coverage(zf[None, ..., None], z_l, cfg.opacity_ramp) * hv_img[hy:hy + c * scale, hx:hx + c * scale]
            a_t = a_t.permute(2, 0, 1)  # [L, H, W]
            c_t = torch.from_numpy(data["rgb_hr"][i, hy:hy + c * scale, hx:hx + c * scale].astype(np.float32) / 255)
            c_t = c_t.permute(2, 0, 1).to(dev)[None]  # [1, 3, H, W]
            w = a_t[:, None] + 0.05
            rgb_l1 = ((up[:, :3] - c_t).abs() * w).sum() / (w.sum() * 3)
            alpha_l1 = (up[:, 3] - a_t).abs().mean()
            loss_sum = loss_sum + rgb_l1 + alpha_l1
            with torch.no_grad():
                base = F.interpolate(maps[0, :, :3], scale_factor=scale, mode="bilinear", align_corners=False)
                base = base[:, :, oy:oy + c * scale, ox:ox + c * scale]
                vals_sum["base_rgb_l1"] += (((base - c_t).abs() * w).sum() / (w.sum() * 3)).item()
            vals_sum["rgb_l1"] += rgb_l1.item()
            vals_sum["alpha_l1"] += alpha_l1.item()
        loss = loss_sum / len(ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        vals = {kk: v / len(ids) for kk, v in vals_sum.items()}
        ema = vals if ema is None else {kk: 0.98 * ema[kk] + 0.02 * v for kk, v in vals.items()}
        if step % cfg.log_every == 0:
            log({"phase": "superres", "step": step, "seconds": time.time() - start, **vals})
            bar.set_postfix(rgb=f"{ema['rgb_l1']:.4f}", base=f"{ema['base_rgb_l1']:.4f}")
        if cfg.preview_every and step % cfg.preview_every == 0:
            preview(pipe, data, cfg.out / "previews" / f"superres_{step:06d}.png", resolution=512)
        step += 1
        bar.update()
    bar.close()
    u.eval()
    phi.requires_grad_(True)
    if cfg.preview_every:
        preview(pipe, data, cfg.out / "previews" / f"superres_{step:06d}_final.png", resolution=512)
    return {"steps": step, "seconds": time.time() - start, **{f"final_{kk}": v for kk, v in ema.items()}}


# ---------------------------------------------------------------------------------- export
def label_priors(pipe: AniPortraitGAN, cfg: TeacherConfig) -> LabelPriors:
    """Label rows drawn from the synthesizer's label distribution (what the taught people were
    posed with), as the pipeline's priors."""
    fm = pipe.face_model()
    rng = np.random.default_rng([cfg.seed, 5])
    labs = [sample_labels(rng, SynthConfig(), fm.exp_names) for _ in range(cfg.priors_rows)]
    a = pipe.assets.config
    pr = LabelPriors(num_rows=cfg.priors_rows, id_dim=a.id_dim, exp_dim=a.exp_dim, pose_scale=1.0,
                     noise_dim=pipe.priors.config.noise_dim,
                     source=f"synthetic label distribution (seed {cfg.seed}, {cfg.priors_rows} rows)")
    with torch.no_grad():
        for key in ("face_id", "betas", "expression", "joint_eulers", "camera"):
            getattr(pr, key).copy_(torch.tensor(np.stack([lb[key] for lb in labs]), dtype=torch.float32))
    return pr


# ---------------------------------------------------------------------------------- driver
class Run:
    """Phase bookkeeping: ``state.json`` names the phases done; ``stage/`` holds the pipeline
    after the last finished phase (replaced atomically)."""

    def __init__(self, cfg: TeacherConfig):
        self.cfg = cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.state_path = cfg.out / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"done": [],
                                                                                                "report": {}}
        self.log_file = (cfg.out / "log.jsonl").open("a")

    def log(self, row: dict) -> None:
        self.log_file.write(json.dumps(row) + "\n")
        self.log_file.flush()

    def finish(self, phase: str, pipe: AniPortraitGAN | None, report: dict) -> None:
        import shutil

        if pipe is not None:
            tmp = self.cfg.out / "stage.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            pipe.save_pretrained(tmp)
            old = self.cfg.out / "stage"
            if old.exists():
                shutil.rmtree(old)
            tmp.rename(old)
        self.state["done"].append(phase)
        self.state["report"][phase] = report
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)
        print(f"phase {phase}: {json.dumps(report)}", flush=True)


def run(cfg: TeacherConfig, phases: tuple[str, ...] = PHASES) -> Path:
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    r = Run(cfg)
    (cfg.out / "config.json").write_text(json.dumps({k: str(v) for k, v in dataclasses.asdict(cfg).items()},
                                                    indent=1))
    done = r.state["done"]
    stage = cfg.out / "stage"
    if stage.exists():
        pipe = AniPortraitGAN.from_pretrained(stage)
    else:
        # eps is exactly the appearance code (no free dimensions for phi to learn to ignore).
        from aniportrait_hub.body.face_model import FaceModel

        fm = FaceModel.from_open_default()
        priors = LabelPriors(num_rows=1, id_dim=fm.num_identity, exp_dim=fm.num_expression, noise_dim=CODE_DIM,
                             source="synthetic")
        pipe = AniPortraitGAN.from_preset(cfg.preset, seed=cfg.seed, priors=priors)
    if cfg.add_plane and pipe.radiance.plane is None:
        rp = preset(cfg.preset)["radiance"]
        if not rp.get("plane_resolution"):
            raise ValueError(f"add_plane: preset {cfg.preset!r} has no feature plane")
        st = pipe.render_settings
        pipe.register_modules(radiance=pipe.radiance.with_plane(rp["plane_resolution"], rp["plane_channels"],
                                                                (*st.map_x_range, *st.map_y_range)))
        pipe.reset_runtime()
    pipe = pipe.to(cfg.device)
    data = None
    if "data" in phases and "data" not in done:
        t = time.time()
        data = build_data(cfg, pipe.render_settings.map_resolution)
        r.finish("data", None, {"identities": len(data["index"]), "seconds": time.time() - t})
    if data is None and (cfg.out / "data.npz").exists():
        data = dict(np.load(cfg.out / "data.npz"))
    for phase, fn in (("manifold", lambda: train_manifold(pipe, data, cfg, r.log)),
                      ("radiance", lambda: train_radiance(pipe, data, cfg, r.log)),
                      ("face", lambda: train_radiance(pipe, data, cfg, r.log, "face")),
                      ("expression", lambda: train_expression(renewed_expression(pipe, cfg), cfg, r.log)),
                      ("superres", lambda: train_superres(pipe, data, cfg, r.log))):
        if phase in phases and phase not in done:
            if data is None and phase != "expression":  # D^e is taught from the face model alone
                raise FileNotFoundError(f"{cfg.out / 'data.npz'} missing: run the data phase first")
            t = time.time()
            rep = fn()
            rep["wall_seconds"] = time.time() - t
            pipe.reset_runtime()
            r.finish(phase, pipe, rep)
    if "export" in phases and "export" not in done:
        pipe.register_modules(priors=label_priors(pipe, cfg))
        pipe.reset_runtime()
        out = cfg.out / "pipeline"
        pipe.save_pretrained(out)
        r.finish("export", None, {"pipeline": str(out)})
    return cfg.out / "pipeline"


def parse_args(argv: list[str] | None = None) -> tuple[TeacherConfig, tuple[str, ...]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(TeacherConfig):
        default = f.default
        if isinstance(default, tuple):
            def typ(text, n=len(default)):
                vals = tuple(float(x) for x in text.split(","))
                if len(vals) != n:
                    raise argparse.ArgumentTypeError(f"needs {n} comma-separated numbers, got {text!r}")
                return vals
        elif isinstance(default, bool):
            def typ(text):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise argparse.ArgumentTypeError(f"needs true or false, got {text!r}")
                return text.lower() in ("true", "1")
        else:
            typ = type(default) if not isinstance(default, Path) else Path
        p.add_argument(f"--{f.name}", type=typ, default=default)
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    a = vars(p.parse_args(argv))
    phases = tuple(x for x in a.pop("phases").split(",") if x)
    bad = set(phases) - set(PHASES)
    if bad:
        p.error(f"unknown phases {sorted(bad)}; known: {PHASES}")
    return TeacherConfig(**a), phases


def main(argv: list[str] | None = None) -> int:
    cfg, phases = parse_args(argv)
    try:
        run(cfg, phases)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
