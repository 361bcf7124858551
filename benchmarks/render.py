"""Benchmark: identity bake and cached frames of AniPortraitGAN (issue: generator).

``python benchmarks/render.py [--preset reference] [--out benchmarks/results/render_reference.json]``

Each scenario runs in its own process so that its peak memory (max RSS) is its own:

- ``peak``: this CPU's measured fp32 peak (a 4096^2 matmul and a 64->64 3x3 conv, best of 5);
- ``bake``: mapping + radiance maps + U for one identity (the per-model manifold heights are
  measured apart), with its arithmetic counted by ``torch.utils.flop_counter``;
- ``frame_<res>``: one cached frame (the identity baked beforehand) at 512^2 and at a 128^2
  preview, per stage from the renderer's ``record_function`` labels; the image only, as the app
  and ``animate`` ask for it (``low_res=False``: no composite of the baked maps where the
  frame does not need it).
Weights are untrained (a trained model costs the same arithmetic; the crossing counts differ).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).parent))
from timing import timed  # noqa: E402


def _best(fn, repeats: int) -> float:
    return timed(fn, repeats, reduce="min")


def scenario_peak() -> dict:
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    t = _best(lambda: a @ b, 5)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(4, 64, 128, 128).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        tc = _best(lambda: conv(x), 5)
    return {"matmul_gflops": 2 * 4096**3 / t / 1e9, "conv_gflops": 2 * 4 * 128 * 128 * 64 * 64 * 9 / tc / 1e9}


def _pipe(model: str):
    from aniportrait_hub.pipelines.loading import load_pipeline

    pipe = load_pipeline(model)
    pipe.renderer()
    pipe.truncation_means()
    return pipe


def scenario_bake(preset: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from aniportrait_hub.rendering.baking import bake_radiance_maps
    from aniportrait_hub.rendering.renderer import radiance_latent

    pipe = _pipe(preset)
    lat = pipe.sample_latents(1, seed=0)
    t0 = time.perf_counter()
    heights = pipe.manifold_heights()
    t_heights = time.perf_counter() - t0
    pipe.bake_identity(pipe.sample_latents(1, seed=1))  # warm-up
    st = pipe.render_settings
    z = radiance_latent(st, lat.face_id, lat.noise, lat.betas)
    out = {"heights_per_model_s": t_heights}
    with torch.no_grad():
        t0 = time.perf_counter()
        film, style = pipe.radiance.mapping(z), pipe.superres.mapping(z)
        t1 = time.perf_counter()
        maps = bake_radiance_maps(heights, pipe.radiance, film, st.map_resolution)
        t2 = time.perf_counter()
        pipe.superres(maps, style)
        t3 = time.perf_counter()
        out["stages_s"] = {"mapping": t1 - t0, "radiance_maps": t2 - t1, "superres_U": t3 - t2}
        out["bake_s"] = t3 - t0
        t0 = time.perf_counter()
        pipe.bake_identity(lat)
        out["bake_identity_call_s"] = time.perf_counter() - t0  # the pipeline's entry point (truncation incl.)
        flops = {}
        for name, fn in (("radiance_maps", lambda: bake_radiance_maps(heights, pipe.radiance, film, st.map_resolution)),
                         ("superres_U", lambda: pipe.superres(maps, style))):
            with FlopCounterMode(display=False) as fc:
                fn()
            flops[name] = fc.get_total_flops()
    out["gmac"] = {k: v / 2e9 for k, v in flops.items()}
    out["gmac_total"] = sum(out["gmac"].values())
    return out


def scenario_frame(preset: str, resolution: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    pipe = _pipe(preset)
    pipe.field_grid()
    cache = pipe.bake_identity(pipe.sample_latents(1, seed=0))
    g = torch.Generator().manual_seed(0)
    # A talking face, not a neutral one: a guided D^e's cost (its neighbour search) is the same
    # either way, but its opened lips add guide points.
    exp = torch.rand(1, pipe.assets.config.exp_dim, generator=g) * 0.3
    frames = [((torch.rand(1, 6, 3, generator=g) - 0.5) * 0.4, torch.tensor([[math.pi / 2, math.pi / 2]]))
              for _ in range(6)]
    pipe.render_frame(cache, exp, *frames[0], resolution, low_res=False)
    times = []
    for eul, cam in frames:
        t0 = time.perf_counter()
        pipe.render_frame(cache, exp, eul, cam, resolution, low_res=False)
        times.append(time.perf_counter() - t0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        pipe.render_frame(cache, exp, *frames[1], resolution, low_res=False)
    stages = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()
              if e.key.startswith(("frame/", "geometry/"))}
    return {"frame_s_median": statistics.median(times), "frame_s_min": min(times), "stages_s": stages,
            "geometry_resolution": pipe.render_settings.geometry_resolution}


def _child(args) -> None:
    torch.manual_seed(0)
    if args.scenario == "peak":
        res = scenario_peak()
    elif args.scenario == "bake":
        res = scenario_bake(args.preset)
    else:
        res = scenario_frame(args.preset, int(args.scenario.split("_")[1]))
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="reference", help="shorthand for --model preset:NAME")
    p.add_argument("--model", default=None, help="default | preset:NAME | pipeline folder | Hub id")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--scenario", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    model = args.model or f"preset:{args.preset}"
    args.preset = model
    if args.scenario:
        _child(args)
        return
    out = {"model": model, "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                               "platform": platform.platform(), "torch": torch.__version__}}
    for sc in ("peak", "bake", "frame_512", "frame_128"):
        r = subprocess.run([sys.executable, __file__, "--model", model, "--scenario", sc],
                           capture_output=True, text=True, check=True)
        out[sc] = json.loads(r.stdout.strip().splitlines()[-1])
        print(sc, json.dumps(out[sc]), flush=True)
    peak = max(out["peak"]["matmul_gflops"], out["peak"]["conv_gflops"])
    ideal = 2 * out["bake"]["gmac_total"] / peak  # seconds at the measured peak
    out["bake_vs_arithmetic_at_peak"] = {"ideal_s": ideal, "ratio": out["bake"]["bake_s"] / ideal, "target_ratio": 1.5}
    out["targets"] = ({"bake_s": 3.0, "frame_512_s": 0.5, "frame_128_s": 0.15} if model == "default" else
                      {"frame_512_s": 0.87, "frame_128_s": 0.25, "small_bake_s": 3.0})
    name = model.split(":", 1)[1] if model.startswith("preset:") else ("default" if model == "default" else
                                                                     Path(model).name)
    path = args.out or Path(__file__).parent / "results" / f"render_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["bake_vs_arithmetic_at_peak"]))


if __name__ == "__main__":
    main()
