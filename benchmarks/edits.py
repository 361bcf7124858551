"""Attribute edits of the default model: teacher-measured effects and what the renders show.

    python benchmarks/edits.py [--out benchmarks/results/edits.json] [--picture docs/edits.png]

Teacher: each direction's mean change of every attribute in standard deviations
(``aniportrait_hub.inversion.edits.teacher_effects``, stored with the directions). Renders: 8
seeds, frontal, each edit at -2 and +2: the person mask's cover beside the neck (where long hair
hangs; shoulders reach into it too) and the mean brightness of the face camera's cheeks and nose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/edits.json")
    ap.add_argument("--picture", default="docs/edits.png")
    a = ap.parse_args(argv)
    from PIL import Image, ImageDraw

    from aniportrait_hub import AniPortraitGAN, DEFAULT_MODEL
    from aniportrait_hub.inversion.edits import ATTRIBUTES

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    exp, eul, front = torch.zeros(1, 52), torch.zeros(1, 6, 3), torch.full((1, 2), torch.pi / 2)
    renders = {}
    for name in ATTRIBUTES:
        row = {}
        for v in (-2.0, 2.0):
            beside, luma = [], []
            for seed in range(8):
                out = pipe(latents=pipe.sample_latents(seed=seed), expression=exp, joint_eulers=eul, camera=front,
                           resolution=128, face_resolution=64, output_type="np", edits={name: v})
                m = out.mask[0]
                beside.append(float(np.concatenate([m[58:90, 26:45], m[58:90, 83:102]]).mean()))
                luma.append(float(out.face_images[0][24:40, 20:44].mean()))
            row[f"{v:+g}"] = {"mask_beside_neck": round(float(np.mean(beside)), 3),
                              "face_brightness": round(float(np.mean(luma)), 3)}
        renders[name] = row
    report = {"teacher_effects_sd": pipe.config.edit_directions["_effects"], "renders_8_seeds": renders}
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    s = 192
    sheet = Image.new("RGB", (s * 3 + 90, s * len(ATTRIBUTES) + 20), "white")
    d = ImageDraw.Draw(sheet)
    for j, t in enumerate(["-2", "0", "+2"]):
        d.text((90 + j * s + s // 2 - 6, 4), t, fill="black")
    side = torch.tensor([[torch.pi / 2, torch.pi / 2 + 0.35]])
    lat = pipe.sample_latents(seed=3)
    for i, name in enumerate(ATTRIBUTES):
        d.text((4, 20 + i * s + s // 2), name, fill="black")
        for j, v in enumerate((-2.0, 0.0, 2.0)):
            im = pipe(latents=lat, expression=exp, joint_eulers=eul, camera=side, resolution=s, face_resolution=0,
                      edits={name: v} if v else None).images[0]
            sheet.paste(im, (90 + j * s, 20 + i * s))
    sheet.save(a.picture)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
