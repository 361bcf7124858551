"""Phase 2 (``radiance``, ``face``): phi at the bake points against the teacher's coverage and
colour; the face's texels oversampled; the feature plane's warp fitted to the eye and mouth
corners."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aniportrait_hub.data.appearance_code import CODE_DIM
from aniportrait_hub.data.canonical import coverage
from aniportrait_hub.data.synthesize import SynthConfig, sample_labels
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from aniportrait_hub.rendering.baking import bake_radiance_maps, map_grid
from aniportrait_hub.rendering.renderer import radiance_latent
from train.teacher.config import TeacherConfig


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
