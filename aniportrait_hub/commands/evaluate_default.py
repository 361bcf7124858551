"""``aniportrait evaluate-default``: the command line of :mod:`aniportrait_hub.evaluation.default_model`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import aniportrait_hub.evaluation.default_model as _library
from aniportrait_hub.commands.common import new_parser
from aniportrait_hub.evaluation.default_model import (
    Teacher,
    control,
    expression,
    face_detection,
    head_pose,
    multiview,
    pictures,
)


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(_library.__doc__)
    p.add_argument("--model", default="default",
                   help='default (embedded), a pipeline folder or a Hub repo id')
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/default_model.json"),
                   help='the JSON report to write')
    p.add_argument("--pictures", type=Path, default=None,
                   help='folder for the figures (none when not given)')
    p.add_argument("--quick", action="store_true", help="a few seeds of each (for tests)")
    p.add_argument("--skip", default="", help="comma-separated measurements to skip")
    p.add_argument("--expression_seeds", type=int, default=16,
                   help='people under the expression sweeps')
    p.add_argument("--multiview_seeds", type=int, default=8,
                   help='people seen from several cameras')
    p.add_argument("--head_pose_seeds", type=int, default=16,
                   help="taught people under the head-yaw sweep (4 before 2026-12-02)")
    p.add_argument("--update", action="store_true",
                   help="keep the other measurements already in --out (re-measure only those not skipped)")
    return p


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.pipelines.loading import load_pipeline

    p = parser()
    a = p.parse_args(argv)
    torch.manual_seed(0)
    pipe = load_pipeline(a.model)
    q = a.quick
    skip = set(a.skip.split(","))
    teacher = Teacher()
    res = {"model": a.model, "machine": {"cpu_count": __import__("os").cpu_count(), "torch_threads": torch.get_num_threads()},
           "note": "mediapipe 0.10.14 legacy face detection (full range) and attention face mesh"}
    if a.update and a.out.exists():
        res = {**json.loads(a.out.read_text()), **res}
    t0 = time.time()
    steps = {"face_detection": lambda: face_detection(pipe, 4 if q else 100),
             "control_taught": lambda: control(pipe, teacher, [0, 1] if q else [i for i in range(18) if i % 10 != 9],
                                               "taught"),
             "control_new_people": lambda: control(pipe, teacher, [9] if q else [9 + 10 * k for k in range(8)], "new"),
             "head_pose": lambda: head_pose(pipe, teacher, 1 if q else a.head_pose_seeds),
             "expression": lambda: expression(pipe, 2 if q else a.expression_seeds, teacher=teacher,
                                              teacher_people=1 if q else 4),
             "multiview": lambda: multiview(pipe, 2 if q else a.multiview_seeds)}
    def write():  # after every measurement: a stopped run keeps what it measured
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(a.out)

    for name, fn in steps.items():
        if name in skip:
            continue
        t = time.time()
        res[name] = fn()
        res[name]["seconds"] = time.time() - t
        print(name, json.dumps({k: v for k, v in res[name].items() if k != "rows"}), flush=True)
        write()
    if a.pictures:
        res["pictures"] = [str(x) for x in pictures(pipe, a.pictures, 4 if q else 16, 1.0 if q else 5.0)]
    res["seconds"] = time.time() - t0
    write()
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
