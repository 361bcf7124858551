"""Own-photo fidelity on held-out synthetic people (see aniportrait_hub.evaluation.inversion).

    python benchmarks/photo_inversion.py [--people 4] [--out benchmarks/results/photo_inversion.json]
        [--picture docs/inversion_fidelity.png]

Speed is benchmarks/photo_speed.py's.

Writes the mean PSNR / SSIM / mask IoU per variant (quick, quick without the encoder, quick
with pivotal tuning of phi's weights instead of the person's FiLM offset, full), with and
without pivotal tuning, per condition (input view, camera yaw -+20, head pose, expression), the
prior-mean floor, seconds per stage, how far tuning moved other people, and a picture of the
first person.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def picture(people, results, path: Path) -> None:
    from PIL import Image, ImageDraw

    person = 0
    conds = list(people[person]["views"])
    rows = [("synthetic truth", [people[person]["views"][c]["image"] for c in conds])]
    for vname in results:
        for tuned in ("untuned", "tuned"):
            r = results[vname]["rows"][tuned][person]
            rows.append((f"{vname}, {'tuned' if tuned == 'tuned' else 'no tuning'}", [r[c]["render"] for c in conds]))
    s = people[person]["views"][conds[0]]["image"].shape[0]
    pad = 22
    sheet = Image.new("RGB", (len(conds) * s + 170, len(rows) * (s + pad) + pad), "white")
    d = ImageDraw.Draw(sheet)
    for j, c in enumerate(conds):
        d.text((170 + j * s + 4, 4), c, fill="black")
    for i, (label, ims) in enumerate(rows):
        y = pad + i * (s + pad)
        d.text((4, y + s // 2), label, fill="black")
        for j, im in enumerate(ims):
            sheet.paste(Image.fromarray((np.clip(im, 0, 1) * 255).round().astype(np.uint8)), (170 + j * s, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--variants", default="quick,quick_no_encoder,quick_weights,full")
    ap.add_argument("--out", default="benchmarks/results/photo_inversion.json")
    ap.add_argument("--picture", default="docs/inversion_fidelity.png")
    a = ap.parse_args(argv)
    from aniportrait_hub import AniPortraitGAN, DEFAULT_MODEL
    from aniportrait_hub.evaluation.inversion import HELDOUT_SEED, evaluate, mean_start, summary, truth
    from aniportrait_hub.inversion import TuneConfig
    from aniportrait_hub.inversion.identity import QUALITIES

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    quick = QUALITIES["quick"]
    variants = {"quick": quick, "quick_no_encoder": dataclasses.replace(quick, encoder=False),
                "quick_weights": dataclasses.replace(quick, tune=TuneConfig(mode="weights", steps=3, lr=5e-4)),
                "full": QUALITIES["full"]}
    variants = {k: variants[k] for k in a.variants.split(",")}
    t0 = time.time()
    people = truth(a.people, list(pipe.face_model().exp_names))
    results = evaluate(pipe, people, variants)
    summ = summary(results)
    floor = mean_start(pipe, people)
    report = {"what": "own-photo fidelity on held-out synthetic people: inverted from one frontal render (true "
                      "geometry and labels given), scored against the synthetic renderer at new labels",
              "people": a.people, "heldout_seed": HELDOUT_SEED, "side": 256, "prior_mean_floor": floor,
              "variants": summ, "seconds_total": round(time.time() - t0, 1),
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "cores": os.cpu_count()}}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    picture(people, results, Path(a.picture))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
