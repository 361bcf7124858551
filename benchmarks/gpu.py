"""Benchmark for a machine with an NVIDIA GPU (issue 33): one prepared run, one JSON.

    python benchmarks/gpu.py [--steps 6] [--out benchmarks/results/gpu.json] [--quick]

1. ``train``: ``train/train.py`` (one process, the GPU) for stage 1 (portrait 128 + face 128)
   and stage 2 (portrait 512 + face 256) at the default and reference presets, fp32 and bf16
   (``ACCELERATE_MIXED_PRECISION``, as ``accelerate launch --mixed_precision`` sets it): steps/s
   and images/s (the median after 2 warm-up steps, from the run's tensorboard log) and the peak
   GPU memory the run reports;
2. ``render``: the embedded default model on the GPU: the identity bake, and a cached frame
   at 128^2, 256^2 and 512^2 (median of 10 after a warm-up, ``torch.cuda.synchronize`` around
   each), with peak memory; the paper's anchor is 0.87 s per 512^2 frame on an RTX A6000;
3. ``syncs``: host syncs in one cached frame on the GPU (the CPU test holds the budget).

The dataset is synthesised first (16 portraits at 128^2, Embree on the CPU). Everything is
written to ``--out`` as it completes, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TRAIN = {  # name: (stage, preset, resolution, face resolution, batch)
    "stage1-default": (1, "default", 128, 128, 8),
    "stage1-reference": (1, "reference", 128, 128, 8),
    "stage2-default": (2, "default", 512, 256, 4),
    "stage2-reference": (2, "reference", 512, 256, 4),
}


def _save(out: Path, report: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


def train_runs(data: Path, tmp: Path, steps: int, report: dict, out: Path, only: list[str]) -> None:
    from train import median_images_per_s

    from aniportrait_hub.pipelines import AniPortraitGAN

    for name, (stage, preset, res, fres, batch) in TRAIN.items():
        if only and name not in only:
            continue
        for precision in ("no", "bf16"):
            key = f"{name}-{'fp32' if precision == 'no' else 'bf16'}"
            run = tmp / key
            cmd = [sys.executable, str(ROOT / "train" / "train.py"), "--preset", f"stage{stage}", "--data.path",
                   str(data), "--out", str(run), "--steps", str(steps), "--resolution", str(res), "--face_resolution",
                   str(fres), "--data.batch_size", str(batch), "--model.preset", preset, "--log_every", "1",
                   "--sample_every", "100000", "--checkpoint_every", "100000", "--num_samples", "2"]
            if stage == 2:
                init = tmp / f"init-{preset}"
                if not init.exists():
                    AniPortraitGAN.from_preset(preset).save_pretrained(init)
                cmd += ["--model.init_from", str(init)]
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                                                                          "ACCELERATE_MIXED_PRECISION": precision})
            if r.returncode:
                report["train"][key] = {"error": r.stderr[-1500:]}
            else:
                ips = median_images_per_s(run, skip=2)
                report["train"][key] = {"stage": stage, "preset": preset, "resolution": res, "face_resolution": fres,
                                        "batch": batch, "images_per_s": round(ips, 2),
                                        "steps_per_s": round(ips / batch, 3),
                                        "peak_memory_gb": _peak_from_log(r.stderr),
                                        "wall_s": round(time.perf_counter() - t, 1)}
            print(key, report["train"][key], flush=True)
            _save(out, report)


def _peak_from_log(text: str):
    for line in text.splitlines()[::-1]:
        if line.startswith("peak_memory_gb="):
            return float(line.split("=")[1])
    return None


def render(report: dict, out: Path, repeats: int = 10) -> None:
    import statistics

    import torch

    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN
    from aniportrait_hub.evaluation.syncs import SyncCounter

    dev = torch.device("cuda")
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL).to(dev)
    lat = pipe.sample_latents(1, seed=0)
    pipe.bake_identity(lat, 0.7)  # warm-up (field grid, manifold heights, kernels)
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        cache = pipe.bake_identity(lat, 0.7)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    report["render"]["bake_s"] = round(statistics.median(times), 4)
    exp = torch.zeros(1, 52, device=dev)
    exp[0, 24] = 0.5
    eul = torch.zeros(1, 6, 3, device=dev)
    eul[0, 3, 1] = 0.3
    cam = torch.tensor([[math.pi / 2, math.pi / 2]], device=dev)
    for res in (128, 256, 512):
        torch.cuda.reset_peak_memory_stats()
        pipe.render_frame(cache, exp, eul, cam, res)
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            pipe.render_frame(cache, exp, eul, cam, res)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        report["render"][f"frame_{res}_s"] = round(statistics.median(times), 4)
        report["render"][f"frame_{res}_peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        print("frame", res, report["render"][f"frame_{res}_s"], flush=True)
        _save(out, report)
    report["render"]["paper_frame_512_s_rtx_a6000"] = 0.87
    with SyncCounter() as syncs:
        pipe.render_frame(cache, exp, eul, cam, 128)
    report["syncs"] = {"frame_128": syncs.total, "kinds": dict(syncs.counts), "report": syncs.report()}
    _save(out, report)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--only", default="", help="comma-separated training configurations (default: all)")
    p.add_argument("--skip_train", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu.json")
    a = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA device (this benchmark is for a machine with an NVIDIA GPU)", file=sys.stderr)
        return 2
    report = {"machine": {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
                          "cpu_count": os.cpu_count(), "platform": platform.platform()},
              "train": {}, "render": {}}
    _save(a.out, report)
    render(report, a.out)
    if not a.skip_train:
        from aniportrait_hub.data.synthesize import SynthConfig, build

        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "syn"
            build(SynthConfig(out=data, n=16, res=128, workers=min(8, os.cpu_count() or 1)))
            train_runs(data, Path(tmp), a.steps, report, a.out, [s for s in a.only.split(",") if s])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
