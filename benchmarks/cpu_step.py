"""Benchmark: a CPU training step of the default model's networks, and a cached frame and
bake, before and after issue 33's changes (one run, one JSON).

    python benchmarks/cpu_step.py --data DATASET [--before PATH_TO_OLD_CHECKOUT]

- ``step``: ``Trainer.train_step`` (stage 1: D and G updates, R1, every regulariser) of the
  embedded default model's networks (``--model.init_from`` it) at the issue's config (32 px
  portrait + face, batch 8), in each checkout: the old step reads its own batch, the new one
  takes it from the DataLoader (whose workers run beside the step in training). In this
  checkout also with D^p's gradients as PyTorch computes them (``pytorch_dp``). Each child
  times ``--repeats`` steps after a warm-up; ``--rounds`` alternate the checkouts;
- ``frame`` / ``bake``: a cached frame at 128^2 and 512^2 (an expression, the head turned) and
  the identity bake, median of 5, in each checkout, alternating the same way.

The median over every timed step / round is reported.

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


def step(data: str, resolution: int, batch: int, repeats: int) -> dict:
    """This checkout's stage-1 step (run with ``PYTHONPATH`` at the checkout): seconds per step,
    after one warm-up step, for D^p's gradients as this code computes them ("default") and, where
    the code has the switch, as PyTorch's own ("pytorch_dp")."""
    import inspect
    import tempfile

    sys.path.insert(0, os.getcwd())  # the checkout's train/ (benchmarks/ holds a train.py too)
    from aniportrait_hub import DEFAULT_MODEL
    from aniportrait_hub.deformation.pose_deformer import PoseDeformer
    from train.config import parse_config
    from train.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(parse_config(["--preset", "stage1", "--data.path", data, "--out", str(Path(tmp) / "run"),
                                  "--model.init_from", str(DEFAULT_MODEL), "--resolution", str(resolution),
                                  "--face_resolution", str(resolution), "--data.batch_size", str(batch),
                                  "--steps", "100"]))
        if inspect.signature(t.train_step).parameters:  # the batch comes from the DataLoader (after)
            batch_0 = t.batches(0)[0]

            def one():
                t.train_step(batch_0)
        else:  # before: the step reads and decodes its own batch
            def one():
                t.train_step()
        modes = {"default": "cpu", "pytorch_dp": "never"} if hasattr(PoseDeformer, "custom_backward") else {
            "default": None}
        times = {name: [] for name in modes}
        for r in range(repeats + 1):
            for name, mode in modes.items():
                if mode is not None:
                    PoseDeformer.custom_backward = mode
                s = time.perf_counter()
                one()
                if r:  # the first round warms up
                    times[name].append(round(time.perf_counter() - s, 2))
    return times


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


def alternate(trees: dict[str, Path], rounds: int, args: list[str]) -> dict[str, list]:
    """This script with ``args`` in each checkout of ``trees``, ``rounds`` times, alternating the
    order (before, after, after, before, ...) so that the host's drift falls on both; each child's
    last stdout line (JSON) per checkout."""
    runs = {name: [] for name in trees}
    order = list(trees.items())
    for i in range(rounds):
        for name, tree in (order if i % 2 == 0 else order[::-1]):
            r = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=tree,
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
            if r.returncode:
                raise SystemExit(f"{name}: {r.stderr[-800:]}")
            runs[name].append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="a dataset folder (aniportrait synthesize)")
    p.add_argument("--resolution", type=int, default=32, help="portrait and face resolution of the step")
    p.add_argument("--repeats", type=int, default=2, help="timed steps per child, after a warm-up step")
    p.add_argument("--before", type=Path, default=None, help="a checkout of the code before (git worktree)")
    p.add_argument("--rounds", type=int, default=2, help="alternating before / after rounds (step and render)")
    p.add_argument("--skip_render", dest="step_only_skip_render", action="store_true",
                   help="time the step only (not the frame and bake)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--render_only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--step_only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpu_step.json")
    a = p.parse_args(argv)
    if a.render_only:  # a child: this checkout's render timings as JSON on stdout
        print(json.dumps(render()))
        return 0
    if a.step_only:  # a child: this checkout's step timings as JSON on stdout
        print(json.dumps(step(a.data, a.resolution, a.batch, a.repeats)))
        return 0
    report = json.loads(a.out.read_text()) if a.out.exists() else {}  # parts not run this time are kept
    report["machine"] = {"cpu_count": os.cpu_count()}
    trees = {"after": ROOT} if a.before is None else {"before": a.before, "after": ROOT}
    if a.data:  # the step: one child per checkout and round
        runs = alternate(trees, a.rounds, ["--step_only", "--data", a.data, "--resolution", str(a.resolution),
                                           "--batch", str(a.batch), "--repeats", str(a.repeats)])
        report["step"] = {"resolution": a.resolution, "batch": a.batch, "repeats_per_round": a.repeats,
                          "rounds": a.rounds, "seconds": runs}
        for name, rs in runs.items():
            for mode in rs[0]:
                report["step"][f"{name}_{mode}_s"] = round(statistics.median(v for r in rs for v in r[mode]), 2)
        if "before" in runs:
            report["step"]["speedup"] = round(report["step"]["before_default_s"] / report["step"]["after_default_s"], 2)
        print("step", {k: v for k, v in report["step"].items() if k != "seconds"}, flush=True)
    if a.before is not None and not a.step_only_skip_render:
        runs = alternate(trees, a.rounds, ["--render_only"])
        for name, rs in runs.items():
            report[f"render_{name}"] = {k: round(statistics.median(r[k] for r in rs), 4) for k in rs[0]}
            report[f"render_{name}_rounds"] = rs
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
