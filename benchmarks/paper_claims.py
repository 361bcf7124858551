"""The paper's ablation claims that can be measured on the embedded default model without
retraining it, on the synthetic ground truth.

    aniportrait synthesize --out data/taught128 --n 360 --res 128 --face_res 128 --seed 0
    python benchmarks/paper_claims.py --data data/taught128 [--people 24]

- **D^p against hair tearing** (Table 2 "no D^p", Fig. 6): the same model rendered with D^p
  and without it (``RenderSettings.pose_deformer=False``: every point takes its nearest body
  vertex's transform), for people the model was taught (synthesizer seed 0, split train),
  under the records' own poses and under a strong head turn with raised collars
  (``--poses strong``); depth and silhouette against the teacher, overall and in the hair.
- **The dual camera** (Table 2 "no dual camera"), what it changes at the input of D_face:
  the face camera's render against the same face box cut out of the portrait, both against
  the teacher's face-camera image (``face_psnr`` vs ``face_crop_psnr`` of the ``control``
  metric).

Writes ``benchmarks/results/paper_claims.json``, the suite's reports under
``benchmarks/results/paper_claims/`` and ``docs/paper_claims_dp.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import save_results  # noqa: E402

VARIANTS = {"with_dp": {}, "without_dp": {"pose_deformer": False}}
KEYS = ("mean_depth_mm", "mean_face_depth_mm", "mean_hair_depth_mm", "mean_hair_mask_iou", "mean_hair_missing_share")


def _long_hair(name: str, seed: int = 0) -> bool:
    """Whether the synthesizer gave person ``synNNNNNN`` of ``seed`` long hair."""
    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer

    if seed not in _SYNTH:
        _SYNTH[seed] = SyntheticRenderer(SynthConfig(seed=seed, res=64))
    return bool(_SYNTH[seed].person(int(name[3:])).style.long)


_SYNTH: dict = {}


def run(data: Path, out: Path, people: int) -> dict:
    from aniportrait_hub.commands.evaluate import main as evaluate

    table = {}
    for name, render in VARIANTS.items():
        for poses in ("dataset", "strong"):
            folder = out / f"{name}_{poses}"
            argv = ["--data", str(data), "--split", "train", "--poses", poses, "--metrics", "control,geometry",
                    "--people", str(people), "--num", "2", "--out", str(folder), "--overwrite"]
            if render:
                argv += ["--render", json.dumps(render)]
            if evaluate(argv) != 0:
                raise RuntimeError(f"evaluate failed for {name} {poses}")
            rep = json.loads((folder / "report.json").read_text())["metrics"]
            geo, ctl = rep["geometry"], rep["control"]
            rows = geo["rows"]
            long_hair = [_long_hair(r["record"]) for r in rows]
            entry_n = {"people": len(rows), "long_hair_people": int(sum(long_hair))}
            entry = {**entry_n, **{k: geo[k] for k in KEYS}}
            for k in ("hair_depth_mm", "hair_mask_iou", "hair_missing_share"):
                vals = [r.get(k) for r, lg in zip(rows, long_hair) if lg and r.get(k) is not None]
                entry[f"long_hair_{k}"] = float(np.mean(vals)) if vals else None
            entry.update({k: ctl[k] for k in ("mean_psnr", "mean_ssim", "mean_mask_iou", "mean_face_psnr",
                                              "mean_face_crop_psnr", "mean_shoulder_iou")})
            table[f"{name}/{poses}"] = entry
            print(name, poses, json.dumps(entry), flush=True)
    return table


def figure(data: Path, path: Path, count: int = 4, side: int = 256) -> Path:
    """Fig. 6 on our data: long-haired taught people under the strong pose: teacher, with D^p,
    without D^p, and where the two models' silhouettes differ (red: only with D^p, blue: only
    without)."""
    import torch
    from PIL import Image

    from aniportrait_hub.data import open_dataset
    from aniportrait_hub.data.canonical import FIXED_LIGHT
    from aniportrait_hub.evaluation.registry import EvalContext, on_white
    from aniportrait_hub.pipelines.pipeline import image_uint8
    from aniportrait_hub.pipelines.loading import load_pipeline

    pipe = load_pipeline("default")
    ds = open_dataset(data)
    ctx = EvalContext(pipe, ds, ds.split("train"), 2, path.parent, side, 128, poses="strong")
    _, synth = ctx.teacher()
    chosen = []
    for rec in ctx.records:  # the people whose hair reaches below the chin (long hair)
        if synth.person(int(rec.name[3:])).style.long:
            chosen.append(rec)
        if len(chosen) == count:
            break
    rows = []
    for rec in chosen:
        lab = ctx.labels(rec)
        cache = pipe.bake_identity(ctx.teacher_latents(rec), truncation_psi=1.0)
        outs = []
        for flag in (True, False):
            pipe.set_render_settings(pose_deformer=flag)
            outs.append(pipe.render_frame(cache, torch.tensor(lab["expression"], dtype=torch.float32)[None],
                                          torch.tensor(lab["joint_eulers"], dtype=torch.float32)[None],
                                          torch.tensor(lab["camera"], dtype=torch.float32)[None], resolution=side,
                                          low_res=False))
        pipe.set_render_settings(pose_deformer=True)
        _, imgs = synth.render(int(rec.name[3:]), labels=lab, light=FIXED_LIGHT)
        ref, _ = on_white(imgs["rgba"])
        ref = np.asarray(Image.fromarray((ref * 255).round().astype(np.uint8)).resize((side, side)))
        m_with, m_without = (o.mask[0, 0].numpy() > 0.5 for o in outs)
        diff = np.full((side, side, 3), 255, np.uint8)
        diff[m_with & m_without] = 200
        diff[m_with & ~m_without] = (220, 40, 40)
        diff[~m_with & m_without] = (40, 80, 220)
        rows.append(np.concatenate([ref, image_uint8(outs[0].image[0]), image_uint8(outs[1].image[0]), diff], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="a synthetic dataset of seed 0 (the taught people)")
    ap.add_argument("--people", type=int, default=24)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "paper_claims.json")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "paper_claims_dp.png")
    a = ap.parse_args(argv)
    table = run(a.data, a.out.with_suffix(""), a.people)
    fig = figure(a.data, a.figure)
    report = {"data": str(a.data), "people": a.people, "model": "default (embedded)",
              "strong_pose": "head yaw +-35 deg, neck yaw +-10 deg, both collars raised 10 deg",
              "table": table, "figure": str(fig.relative_to(ROOT))}
    print(json.dumps(report, indent=1))
    save_results(a.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
