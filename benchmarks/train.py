"""Benchmark: trainer throughput (images/s) per stage and preset (issue: trainer).

``python benchmarks/train.py --data DATASET [--steps 6] [--only NAME]`` runs ``train/train.py``
for each configuration below on this machine (one process), skips the first 2 steps (warm-up,
first sample grid) and reports the median images/s of the rest, from the run's tensorboard log.
A step = one discriminator and one generator update on ``batch`` real and ``batch`` generated
images (portrait + face camera). Results: ``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D_SMALL = ["--model.d_channel_base", "2048", "--model.d_channel_max", "128"]
COARSE = ["--model.render", json.dumps({"pose_grid": [12, 32, 32], "samples_per_ray": 32})]
CONFIGS = {
    # name: (stage, preset, resolution, face resolution, batch, extra args)
    "stage1-small-32-coarse": (1, "small", 32, 32, 8, D_SMALL + COARSE),
    "stage1-small-64": (1, "small", 64, 64, 8, D_SMALL),
    "stage1-small-128": (1, "small", 128, 128, 4, []),
    "stage1-reference-128": (1, "reference", 128, 128, 2, []),
    "stage2-small-256": (2, "small", 256, 128, 2, []),
}


def median_images_per_s(run: Path, skip: int) -> float:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(next(run.rglob("events.out.tfevents.*")).parent))
    acc.Reload()
    vals = sorted(e.value for e in acc.Scalars("images_per_s") if e.step > skip)
    return vals[len(vals) // 2]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--only", default="")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train.json")
    args = p.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform()}
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tmp) / "stage1-init"
        for name, (stage, preset, res, fres, batch, extra) in CONFIGS.items():
            if args.only and args.only != name:
                continue
            run = Path(tmp) / name
            cmd = [sys.executable, str(ROOT / "train" / "train.py"), "--preset", f"stage{stage}", "--data.path", args.data,
                   "--out", str(run), "--steps", str(args.steps), "--resolution", str(res), "--face_resolution", str(fres),
                   "--data.batch_size", str(batch), "--model.preset", preset, "--log_every", "1",
                   "--sample_every", "1000", "--checkpoint_every", "1000", "--num_samples", "2", *extra]
            if stage == 2:
                if not init.exists():
                    from aniportrait_hub.pipelines import AniPortraitGAN

                    AniPortraitGAN.from_preset(preset).save_pretrained(init)
                cmd += ["--model.init_from", str(init)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                results[name] = {"error": r.stderr[-500:]}
                continue
            ips = median_images_per_s(run, skip=2)
            results[name] = {"stage": stage, "preset": preset, "resolution": res, "face_resolution": fres, "batch": batch,
                             "images_per_s": round(ips, 3), "seconds_per_step": round(batch / ips, 2)}
            print(name, results[name], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
