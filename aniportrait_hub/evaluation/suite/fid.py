"""FID and KID of the whole portrait and of the face camera, against the dataset's images
(Inception network and its caveat: :mod:`aniportrait_hub.evaluation.inception`)."""

from __future__ import annotations

from aniportrait_hub.evaluation.inception import frechet_distance, kernel_inception_distance
from aniportrait_hub.evaluation.registry import EvalContext, grid, metric


def _sets(ctx: EvalContext, kind: str):
    gen, real = ctx.generated()[kind], ctx.real()[kind]
    if len(real) < 2:
        raise ValueError(f"the dataset holds {len(real)} {kind} images for the evaluated records; FID needs more")
    net = ctx.features()

    def feats(tag, images):
        return ctx.shared(f"feat_{kind}_{tag}", lambda: net(images, desc=f"inception {kind} {tag}"))
    return feats("generated", gen), feats("dataset", real), net.name, len(gen), len(real)


def _fid(ctx: EvalContext, kind: str) -> dict:
    g, r, name, ng, nr = _sets(ctx, kind)
    pic = ctx.picture(f"samples_{kind}", grid(ctx.generated()[kind][:8] + ctx.real()[kind][:8], 8))
    return {"value": frechet_distance(g, r), "generated": ng, "dataset": nr, "network": name,
            "pictures": [pic], "note": "top row generated, bottom row dataset"}


def _kid(ctx: EvalContext, kind: str) -> dict:
    g, r, name, ng, nr = _sets(ctx, kind)
    mean, std = kernel_inception_distance(g, r)
    return {"value": 100 * mean, "std": 100 * std, "generated": ng, "dataset": nr, "network": name}


@metric("fid", compares="generated portraits vs the dataset's portraits (Inception pool features)", unit="FID")
def fid(ctx: EvalContext) -> dict:
    return _fid(ctx, "image")


@metric("kid", compares="generated portraits vs the dataset's portraits (cubic-kernel MMD)", unit="KID x 100")
def kid(ctx: EvalContext) -> dict:
    return _kid(ctx, "image")


@metric("face_fid", compares="generated face-camera images vs the dataset's face images", unit="FID")
def face_fid(ctx: EvalContext) -> dict:
    return _fid(ctx, "face")


@metric("face_kid", compares="generated face-camera images vs the dataset's face images", unit="KID x 100")
def face_kid(ctx: EvalContext) -> dict:
    return _kid(ctx, "face")
