"""Benchmark: a CPU training step of the default model's networks, and a cached frame and
bake, before and after issue 33's changes (one run, one JSON).

    python benchmarks/cpu_step.py --data DATASET [--before PATH_TO_OLD_CHECKOUT]

- ``step``: one ``Trainer.train_step`` (stage 1: D and G updates, R1, every regulariser) of
  the embedded default model's networks (``--model.init_from`` it), the same config and batch,
  with D^p's kernel gradient as PyTorch computes it (``custom_weight_grad = "never"``, before)
  and as :class:`~aniportrait_hub.deformation.pose_deformer.DepthwiseConv3d` does (after),
  alternating, median of ``--repeats`` after a warm-up;
- ``frame`` / ``bake``: with ``--before``, this script's ``render`` part runs in that checkout
  (a ``git worktree`` of the old commit) and in this one, one after the other: a cached frame
  at 128^2 and 512^2 (an expression, the head turned) and the identity bake, median of 5, in
  ``--rounds`` alternating rounds (before, after, after, before), the median over rounds.

Results: ``benchmarks/results/cpu_step.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from timing import timed  # noqa: E402


def step(data: str, resolution: int, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import tempfile

    from aniportrait_hub import DEFAULT_MODEL
    from aniportrait_hub.deformation.pose_deformer import PoseDeformer
    from train.config import parse_config
    from train.train import Trainer

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(parse_config(["--preset", "stage1", "--data.path", data, "--out", str(Path(tmp) / "run"),
                                  "--model.init_from", str(DEFAULT_MODEL), "--resolution", str(resolution),
                                  "--face_resolution", str(resolution), "--data.batch_size", "2",
                                  "--steps", "100"]))
        batch = t.batches(0)[0]
        times = {"never": [], "cpu": []}
        for mode in ("never", "cpu"):  # warm-up
            PoseDeformer.custom_weight_grad = mode
            t.train_step(batch)
        for _ in range(repeats):
            for mode in ("never", "cpu"):
                PoseDeformer.custom_weight_grad = mode
                s = time.perf_counter()
                t.train_step(batch)
                times[mode].append(time.perf_counter() - s)
        out = {"resolution": resolution, "batch": 2, "before_s": round(statistics.median(times["never"]), 2),
               "after_s": round(statistics.median(times["cpu"]), 2)}
        out["speedup"] = round(out["before_s"] / out["after_s"], 2)
    return out


def render(repeats: int = 5) -> dict:
    import torch

    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    lat = pipe.sample_latents(1, seed=0)
    cache = pipe.bake_identity(lat, 0.7)
    exp = torch.zeros(1, 52)
    exp[0, 24] = 0.6
    eul = torch.zeros(1, 6, 3)
    eul[0, 3, 1] = 0.3
    cam = torch.tensor([[math.pi / 2, math.pi / 2]])
    out = {}

    def med(fn):
        return round(timed(fn, repeats), 4)

    out["bake_s"] = med(lambda: pipe.bake_identity(lat, 0.7))
    for res in (128, 512):
        out[f"frame_{res}_s"] = med(lambda: pipe.render_frame(cache, exp, eul, cam, res))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="a dataset folder (python -m aniportrait_hub.data.synthesize)")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--before", type=Path, default=None, help="a checkout of the code before (git worktree)")
    p.add_argument("--rounds", type=int, default=2, help="alternating before / after rounds of the render part")
    p.add_argument("--render_only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpu_step.json")
    a = p.parse_args(argv)
    if a.render_only:  # a child: this checkout's render timings as JSON on stdout
        print(json.dumps(render()))
        return 0
    report = json.loads(a.out.read_text()) if a.out.exists() else {}  # parts not run this time are kept
    report["machine"] = {"cpu_count": os.cpu_count()}
    if a.before is not None:
        # alternating rounds (before, after, after, before, ...), so the host's drift falls on both
        runs = {"before": [], "after": []}
        for i in range(a.rounds):
            order = (("before", a.before), ("after", ROOT))
            for name, tree in (order if i % 2 == 0 else order[::-1]):
                r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--render_only"], cwd=tree,
                                   capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
                if r.returncode:
                    raise SystemExit(f"{name}: {r.stderr[-800:]}")
                runs[name].append(json.loads(r.stdout.strip().splitlines()[-1]))
                print(name, runs[name][-1], flush=True)
        for name, rs in runs.items():
            report[f"render_{name}"] = {k: round(statistics.median(r[k] for r in rs), 4) for k in rs[0]}
            report[f"render_{name}_rounds"] = rs
    if a.data:
        report["step"] = step(a.data, a.resolution, a.repeats)
        print("step", report["step"], flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
