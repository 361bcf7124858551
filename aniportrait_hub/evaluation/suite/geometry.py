"""Geometry against the synthetic ground truth: the model's depth vs the teacher's depth for the
same person and labels, in millimetres along the ray, over the pixels both cover; by region
(the teacher's part mask: face skin, hair); and the hair's silhouette. With ``--poses strong``
this is where hair tearing shows (the paper's Fig. 6 claim for D^p)."""

from __future__ import annotations

import numpy as np

from aniportrait_hub.evaluation.registry import EvalContext, grid, metric

#: Part ids of the synthetic renderer (``aniportrait_hub.data.synthesize.PART_IDS``).
SKIN, HAIR = 1, 2


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, iterations=r)


def _error_picture(err_mm: np.ndarray, both: np.ndarray, scale_mm: float = 20.0) -> np.ndarray:
    """Absolute depth error as grey (white 0, black >= ``scale_mm``), red where only one of the
    two covers the pixel."""
    img = np.full(err_mm.shape + (3,), 255, np.uint8)
    v = (255 * (1 - np.clip(err_mm / scale_mm, 0, 1))).astype(np.uint8)
    img[both] = v[both, None]
    return img


@metric("geometry", compares="model depth vs the teacher's depth, same person and labels", unit="mm", teacher=True)
def geometry(ctx: EvalContext) -> dict:
    mm = ctx.mm_per_unit()
    rows, tiles = [], []
    for rec, out, imgs in ctx.pairs(ctx.people):
        d_model = out.depth[0, 0].double().numpy() * mm
        m_model = out.mask[0, 0].double().numpy() > 0.5
        d_ref = imgs["depth"].astype(np.float64) * mm
        parts = imgs["parts"]
        m_ref = parts > 0
        both = m_model & m_ref
        err = np.abs(d_model - d_ref)
        hair = parts == HAIR
        row = {"record": rec.name, "depth_mm": float(err[both].mean()) if both.any() else None,
               "face_depth_mm": float(err[both & (parts == SKIN)].mean()) if (both & (parts == SKIN)).any() else None,
               "hair_pixels": int(hair.sum())}
        if hair.sum() >= 20:
            near = _dilate(hair, 3)  # the hair and a rim around it: torn hair leaves holes or strays there
            inter, union = (m_model & m_ref & near).sum(), ((m_model | m_ref) & near).sum()
            row["hair_mask_iou"] = float(inter / union) if union else None
            row["hair_depth_mm"] = float(err[both & hair].mean()) if (both & hair).any() else None
            row["hair_missing_share"] = float((hair & ~m_model).sum() / hair.sum())
        rows.append(row)
        if len(tiles) < 12:
            from aniportrait_hub.pipelines.pipeline import image_uint8

            ref = imgs["rgba"][..., :3].copy()
            ref[~m_ref] = 255
            tiles += [image_uint8(out.image[0]), ref, _error_picture(np.where(both, err, 0), both)]
            only = m_model ^ m_ref
            tiles[-1][only] = (220, 40, 40)

    def mean(key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return (float(np.mean(vals)) if vals else None), len(vals)

    res = {"poses": ctx.poses, "people": len(rows), "rows": rows,
           "note": "pictures: model, teacher, |depth error| (white 0, black >= 20 mm; red: covered by one only)"}
    for key in ("depth_mm", "face_depth_mm", "hair_depth_mm", "hair_mask_iou", "hair_missing_share"):
        res[f"mean_{key}"], res[f"n_{key}"] = mean(key)
    res["value"] = res["mean_depth_mm"]
    res["pictures"] = [ctx.picture(f"geometry_{ctx.poses}", grid(tiles, 6))]
    return res
