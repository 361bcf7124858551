"""Seconds from a photo to an animatable personal model, per quality, and a frame's seconds.

    python benchmarks/photo_speed.py [--out benchmarks/results/photo_speed.json] [--threads N]

Times ``photo_to_model`` on the astronaut (scikit-image) with a loaded default model: the
preparation (detection, label fit, crops), the encoder, inversion and pivotal tuning; then a
512^2 frame of the personal model and of the default model's sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/photo_speed.json")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--qualities", default="quick")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from skimage import data

    from aniportrait_hub import AniPortraitGAN, DEFAULT_MODEL
    from aniportrait_hub.inversion import photo_to_model

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    photo = data.astronaut()
    report = {"threads": torch.get_num_threads(), "photo": "skimage astronaut 512x512"}
    exp, eul, cam = torch.zeros(1, 52), torch.zeros(1, 6, 3), torch.full((1, 2), torch.pi / 2)
    for q in a.qualities.split(","):
        t = time.perf_counter()
        tuned, person = photo_to_model(pipe, photo, q)
        total = time.perf_counter() - t
        frames = {}
        for name, p in (("personal", tuned), ("default", pipe)):
            lat = person.latents if name == "personal" else pipe.sample_latents(seed=0)
            cache = p.bake_identity(lat, truncation_psi=1.0)
            p.render_frame(cache, exp, eul, cam, 512)
            t = time.perf_counter()
            for _ in range(5):
                p.render_frame(cache, exp, eul, cam, 512)
            frames[name] = round((time.perf_counter() - t) / 5, 3)
        report[q] = {"seconds": round(total, 1), "prepare": person.info["prepare_seconds"],
                     "invert": person.info["invert_seconds"], "tune": person.info["tune_seconds"],
                     "frame_512_seconds": frames}
        print(q, report[q], flush=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
