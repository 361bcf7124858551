"""Phase 1 (``manifold``): M regressed onto a level field that brackets every person's canonical
surface."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from train.teacher.config import TeacherConfig


def slab_bounds(z_lr: np.ndarray, cfg: TeacherConfig) -> tuple[np.ndarray, np.ndarray]:
    """Front and back of the manifold slab over the map grid [r, r] from all people's sub-ray
    hits [K, S, r, r] (NaN = miss): front-most / rearmost surface, filled where nobody is,
    dilated over silhouettes, blurred, margins and minimum thickness applied."""
    import warnings

    from scipy import ndimage

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
