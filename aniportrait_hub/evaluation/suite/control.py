"""Control: does the model draw the person, pose, expression and camera it is given?

- ``control``: the records' people (their teacher latents) under the records' labels against
  the synthetic teacher's render of the same person and labels (fixed light): portrait PSNR /
  SSIM / mask IoU, face-camera PSNR, the same face box cut from the portrait (what the face
  discriminator sees without the dual camera), and the shoulders' silhouette (mask IoU of the
  portrait's lower quarter, where collars and upper arms move).
- ``head_pose``, ``expression``: the face-mesh readings of the default-model issue
  (:mod:`aniportrait_hub.evaluation.default_model`) run from here.
"""

from __future__ import annotations

import numpy as np

from aniportrait_hub.evaluation.metrics import mask_iou, psnr, ssim
from aniportrait_hub.evaluation.registry import EvalContext, grid, metric, on_white


def _np(t) -> np.ndarray:
    return t.permute(1, 2, 0).clamp(0, 1).double().numpy()


@metric("control", compares="model vs the synthetic teacher, same person and labels", unit="PSNR dB", teacher=True)
def control(ctx: EvalContext) -> dict:
    from aniportrait_hub.rendering.cameras import portrait_face_crop

    rows, tiles = [], []
    settings = ctx.pipe.render_settings
    for rec, out, imgs in ctx.pairs(ctx.people):
        ref_side = imgs["face"].shape[0]
        ref, alpha = on_white(imgs["rgba"])
        gen, mask = _np(out.image[0]), out.mask[0, 0].double().numpy()
        q = mask.shape[0] - mask.shape[0] // 4
        face_ref = imgs["face"].astype(np.float64) / 255
        rows.append({"record": rec.name, "psnr": psnr(gen, ref), "ssim": ssim(gen, ref), "mask_iou": mask_iou(mask, alpha),
                     "face_psnr": psnr(_np(out.face_image[0]), face_ref),
                     # the same face box cut from the portrait: what D_face sees without the dual camera
                     "face_crop_psnr": psnr(_np(portrait_face_crop(out.image, settings, ref_side)[0]), face_ref),
                     "shoulder_iou": mask_iou(mask[q:], alpha[q:])})
        if len(tiles) < 12:
            tiles += [(gen * 255).round().astype(np.uint8), (ref * 255).round().astype(np.uint8)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "record"}
    pic = ctx.picture("control_pairs", grid(tiles, 4))
    return {"value": mean["psnr"], **{f"mean_{k}": v for k, v in mean.items()}, "people": len(rows), "poses": ctx.poses,
            "rows": rows, "pictures": [pic], "note": "pairs: model, teacher"}


@metric("head_pose", compares="commanded head yaw vs the face mesh's PnP reading", unit="deg", teacher=True)
def head_pose(ctx: EvalContext) -> dict:
    from aniportrait_hub.evaluation.default_model import Teacher, head_pose as measure

    seed, _ = ctx.teacher()
    r = measure(ctx.pipe, Teacher(seed=seed), ctx.sweep_seeds)
    return {"value": r["mean_abs_error_deg"], **r}


@metric("expression", compares="expression unit value vs the face mesh's reading (Spearman)", unit="Spearman")
def expression(ctx: EvalContext) -> dict:
    from aniportrait_hub.evaluation.default_model import expression as measure

    r = measure(ctx.pipe, ctx.sweep_seeds)
    vals = [v["mean_spearman"] for v in r.values() if v["mean_spearman"] is not None]
    return {"value": float(np.mean(vals)) if vals else None, **r}
