"""Train the face-coefficient estimator of the landmark loss on synthetic face-camera renders.

    python train/face_estimator.py --data DATASET --out DIR [--steps 3000 --batch 64 --lr 1e-3]

DATASET: a synthetic dataset (``aniportrait synthesize``): its face-camera
images and exact face identity / expression labels. The loss is the landmark distance of Eq. 9
(1 cm units) plus coefficient MSEs (expression weighted up: landmarks alone are dominated by
identity); inputs get light photometric jitter and a few
pixels of shift, so that generated faces (not only our renders) are read. The held-out split is
evaluated (landmark error in mm, per-unit correlations) into ``DIR/report.json``; ``DIR`` is a
``FaceCoefficientEstimator.from_pretrained`` folder for ``--loss.face_estimator``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aniportrait_hub.body import FaceModel  # noqa: E402
from aniportrait_hub.data.format import DatasetError, open_dataset  # noqa: E402
from aniportrait_hub.models.face_estimator import FaceCoefficientEstimator, landmark_loss  # noqa: E402


def load_split(ds, split: str, res: int):
    from PIL import Image

    recs = ds.split(split)
    missing = [r.name for r in recs if not ds.face_path(r).is_file()]
    if missing:
        raise DatasetError(f"{ds.root}: {len(missing)} record(s) without a face image, e.g. {missing[:3]}")
    imgs = np.stack([np.asarray(Image.open(ds.face_path(r)).convert("RGB").resize((res, res), Image.BILINEAR))
                     for r in recs])
    arr = ds.arrays(split)
    return (torch.as_tensor(imgs).permute(0, 3, 1, 2).float() / 255, torch.as_tensor(arr["face_id"]),
            torch.as_tensor(arr["expression"]))


def jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
    bias = 0.1 * (torch.rand(b, 3, 1, 1, generator=g) - 0.5)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    x = torch.roll(x, (dy, dx), (2, 3))
    return (x * gain + bias).clamp(0, 1)


def evaluate(model, face: FaceModel, imgs, ids, exps) -> dict:
    with torch.no_grad():
        est = model(imgs)
        lm_t = face(ids, exps).landmarks
        lm_e = face(est.identity, est.expression).landmarks
    err_mm = (lm_t - lm_e).norm(dim=-1).mean().item() * 1000
    base_mm = (lm_t - face(torch.zeros_like(ids), torch.zeros_like(exps)).landmarks).norm(dim=-1).mean().item() * 1000
    out = {"landmark_error_mm": round(err_mm, 3), "mean_face_baseline_mm": round(base_mm, 3), "units": {}}
    names = face.exp_names or []
    for unit in ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft", "browInnerUp"):
        if unit in names:
            i = names.index(unit)
            a, b = exps[:, i].numpy(), est.expression[:, i].numpy()
            out["units"][unit] = round(float(np.corrcoef(a, b)[0, 1]), 3) if a.std() > 0 else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--res", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--landmark_weight", type=float, default=1.0, help="weight of the Eq. 9 landmark term")
    p.add_argument("--exp_weight", type=float, default=100.0, help="weight of the expression-coefficient MSE "
                   "(the landmark term alone is dominated by identity)")
    args = p.parse_args(argv)
    from tqdm.auto import tqdm

    out = Path(args.out)
    try:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} is not empty; choose another --out")
        ds = open_dataset(args.data)
        face = FaceModel.from_open_default()
        if ds.info.exp_dim != face.num_expression or ds.info.id_dim != face.num_identity:
            raise DatasetError(f"{args.data}: labels (id {ds.info.id_dim}, exp {ds.info.exp_dim}) are not the open face "
                               f"model's ({face.num_identity}, {face.num_expression})")
        train = load_split(ds, "train", args.res)
        held = load_split(ds, "heldout", args.res)
    except (DatasetError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    model = FaceCoefficientEstimator(id_dim=face.num_identity, exp_dim=face.num_expression, resolution=args.res,
                                     basis_name=face.basis_name)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    g = torch.Generator().manual_seed(args.seed)
    n = train[0].shape[0]
    for _ in tqdm(range(args.steps), desc="face estimator"):
        idx = torch.randint(n, (args.batch,), generator=g)
        imgs, ids, exps = jitter(train[0][idx], g), train[1][idx], train[2][idx]
        est = model(imgs)
        loss = (args.landmark_weight * landmark_loss(face, ids, exps, est) + 0.1 * (est.identity - ids).pow(2).mean()
                + args.exp_weight * (est.expression - exps).pow(2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    report = {"data": str(args.data), "train_images": n, "steps": args.steps, "batch": args.batch,
              "heldout": evaluate(model, face, *held), "train": evaluate(model, face, *(t[:500] for t in train))}
    model.save_pretrained(out)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["heldout"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
