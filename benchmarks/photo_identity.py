"""Your photo stays you: map-level tuning against the pipeline before it, in one run (issue 31).

    python benchmarks/photo_identity.py [--qualities quick,full] [--people 2]
        [--out benchmarks/results/photo_identity.json] [--docs docs]

Real photos (the astronaut from scikit-image, Grace Hopper from matplotlib: the real portraits
that installed packages ship): each turned into a personal model by the pipeline before map
tuning (``before``: the old quick quality, 4 inversion + 5 FiLM steps) and by this one (quick;
full), rendered at 512^2 in five views (the photo's labels, camera yaw -+20 deg, the head turned
25 deg, a smile), and compared with the photo's aligned crop by dlib's ResNet face descriptor
(the network of ``benchmarks/photo_real.py``; < 0.6 is dlib's same-person threshold). Seconds
per photo, and a 512^2 frame of the personal model against the default model's.

Held-out synthetic people (``aniportrait_hub.evaluation.inversion``: inverted from one frontal
render of the synthetic renderer with the true geometry and labels, scored against its renders
at new labels): PSNR / SSIM / mask IoU per condition for the old quick, the new quick, and the
new quick with the symmetry prior off.

Pictures: ``docs/photo_identity.png`` (photo | input view | yaw -20 | yaw +20 | head turn |
smile, a row per photo and pipeline) and ``docs/photo_identity_<name>.mp4`` (the shipped clip
driving the new model, side by side).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from photo_real import VIEWS, FaceId, render_views  # noqa: E402


def _before():
    """The quick quality as it was before map tuning."""
    from aniportrait_hub.inversion import InversionConfig, MapTuneConfig, PhotoQuality, TuneConfig

    return PhotoQuality(InversionConfig(steps=4, lr=0.1), TuneConfig(steps=5, film_lr=0.02), MapTuneConfig(steps=0))


@torch.no_grad()
def _frame_seconds(pipe, latents, repeats: int = 3) -> float:
    import math

    cache = pipe.bake_identity(latents, truncation_psi=1.0)
    exp = torch.zeros(1, pipe.assets.config.exp_dim)
    eul, cam = torch.zeros(1, 6, 3), torch.tensor([[math.pi / 2, math.pi / 2]])
    pipe.render_frame(cache, exp, eul, cam, 512)
    t = time.perf_counter()
    for _ in range(repeats):
        pipe.render_frame(cache, exp, eul, cam, 512)
    return (time.perf_counter() - t) / repeats


def real_photos(pipe, qualities: list[str], docs: Path) -> dict:
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from aniportrait_hub.drive import DriveConfig
    from aniportrait_hub.drive import run as drive
    from aniportrait_hub.inversion import QUALITIES, photo_to_model, prepare_photo

    exp_names = list(pipe.face_model().exp_names)
    faceid = FaceId()
    photos = {"astronaut": data.astronaut(),
              "hopper": np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
                                   .convert("RGB"))}
    out, rows = {}, []
    for name, photo in photos.items():
        crop = prepare_photo(photo).image
        ref = faceid(crop)
        r = {}
        made = {}
        for key, q in [("before", _before())] + [(k, QUALITIES[k]) for k in qualities]:
            t = time.perf_counter()
            tuned, person = photo_to_model(pipe, photo, q)
            secs = time.perf_counter() - t
            views = render_views(tuned, person, exp_names)
            dist = {v: (None if (d := faceid(img)) is None else round(float(np.linalg.norm(d - ref)), 3))
                    for v, img in views.items()}
            r[key] = {"seconds": round(secs, 1), "distance": dist,
                      "frame_seconds_512": round(_frame_seconds(tuned, person.latents), 3)}
            made[key] = (tuned, person)
            rows.append((f"{name}, {key}", crop, views))
            print(name, key, json.dumps(r[key]), flush=True)
        best = qualities[-1]
        tuned, person = made[best]
        cache = tuned.bake_identity(person.latents, truncation_psi=1.0)
        drive(DriveConfig(out=docs / f"photo_identity_{name}.mp4", video=ROOT / "examples/driving/synthetic_talk.mp4",
                          relative=True, side_by_side=True, resolution=256, overwrite=True), pipe=tuned, identity=cache)
        out[name] = r
    r = out[next(iter(out))]
    out["default_model_frame_seconds_512"] = round(_frame_seconds(pipe, pipe.sample_latents(1, seed=0)), 3)
    _sheet(rows, docs / "photo_identity.png")
    return out


def _sheet(rows, path: Path, s: int = 192) -> None:
    from PIL import Image, ImageDraw

    sheet = Image.new("RGB", (s * (1 + len(VIEWS)), (s + 18) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, crop, views) in enumerate(rows):
        y = i * (s + 18)
        draw.text((4, y + 2), f"{label}:  photo | " + " | ".join(VIEWS), fill=(0, 0, 0))
        sheet.paste(Image.fromarray(crop).resize((s, s)), (0, y + 18))
        for j, img in enumerate(views.values()):
            sheet.paste(Image.fromarray(img).resize((s, s)), ((j + 1) * s, y + 18))
    sheet.save(path)


def synthetic(pipe, n_people: int) -> dict:
    from aniportrait_hub.evaluation.inversion import evaluate, summary, truth
    from aniportrait_hub.inversion import QUALITIES

    quick = QUALITIES["quick"]
    variants = {"before": _before(), "quick": quick,
                "quick_no_symmetry": dataclasses.replace(quick, maps=dataclasses.replace(quick.maps,
                                                                                         symmetry_weight=0.0))}
    people = truth(n_people, list(pipe.face_model().exp_names))
    return summary(evaluate(pipe, people, variants))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qualities", default="quick,full")
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--parts", default="real,synthetic")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/photo_identity.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    a = ap.parse_args(argv)
    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "cores": os.cpu_count()},
              "views": list(VIEWS), "threshold_same_person": 0.6}
    if a.out.is_file():  # parts run separately fill one report
        report = {**json.loads(a.out.read_text()), **report}
    parts = a.parts.split(",")
    if "real" in parts:
        report["real_photos"] = real_photos(pipe, a.qualities.split(","), a.docs)
    if "synthetic" in parts:
        report["synthetic"] = {"people": a.people, "variants": synthetic(pipe, a.people)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
