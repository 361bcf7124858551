"""Multi-view consistency: the depth of a frontal view reprojected into a view 15 deg away
(:func:`aniportrait_hub.evaluation.metrics.depth_reprojection_error`), in millimetres."""

from __future__ import annotations

from aniportrait_hub.evaluation.registry import EvalContext, metric


@metric("consistency", compares="frontal depth reprojected into a 15 deg view vs that view's depth", unit="mm")
def consistency(ctx: EvalContext) -> dict:
    from aniportrait_hub.evaluation.default_model import multiview

    r = multiview(ctx.pipe, ctx.sweep_seeds)
    return {"value": r["mean_error"] * ctx.mm_per_unit(), **r}
