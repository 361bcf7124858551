"""Phase 4 (``superres``): U from phi's baked maps to the teacher's high-resolution maps."""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aniportrait_hub.data.canonical import coverage
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from aniportrait_hub.rendering.baking import bake_radiance_maps, manifold_heights
from train.teacher.config import TeacherConfig
from train.teacher.radiance import face_texels, identity_latent, preview


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
