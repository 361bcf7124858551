"""Your photo stays you: map-level tuning against the pipeline before it, in one run (issue 31).

    python benchmarks/photo_identity.py [--qualities quick,full] [--people 2] [--parts real,synthetic,hard,speed]
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

Hard and bad input (``hard``): a group photo (refused without a choice; the largest person with
one), a hand over the cheek, a mug before the mouth, a small and a tiny face in a 1920x1080
photo, a photo cropped at the chin (each through ``photo_to_model`` from a file, hashed before
and after), and a held-out synthetic person with the eyes closed and with an open smile (the
personal model rendered neutral against the neutral photo's crop). ``docs/photo_identity_hard.png``.

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

    from aniportrait_hub.commands.drive import DriveConfig
    from aniportrait_hub.commands.drive import run as drive
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


def _hard_cases(astronaut: np.ndarray, hopper: np.ndarray) -> dict:
    """Hard photos built from the two real ones (name -> (photo, person choice, what it tests))."""
    from PIL import Image, ImageDraw

    def on(canvas_wh, photo, height, at):
        canvas = Image.new("RGB", canvas_wh, (128, 128, 128))
        im = Image.fromarray(photo)
        im = im.resize((round(im.width * height / im.height), height), Image.LANCZOS)
        canvas.paste(im, at)
        return np.asarray(canvas)

    group = np.concatenate([np.asarray(Image.fromarray(astronaut).resize((512, 512))),
                            np.asarray(Image.fromarray(hopper).resize((round(512 * hopper.shape[1] / hopper.shape[0]),
                                                                       512)))], 1)
    hand = Image.fromarray(astronaut.copy())  # a skin-coloured hand over the left cheek and mouth corner
    ImageDraw.Draw(hand).ellipse((150, 150, 228, 262), fill=(214, 160, 130))
    mug = Image.fromarray(astronaut.copy())  # a grey mug before the chin and mouth
    ImageDraw.Draw(mug).rounded_rectangle((170, 175, 262, 290), 12, fill=(90, 96, 104))
    return {
        "group_photo": (group, None, "two people, no choice"),
        "group_photo_largest": (group, "largest", "two people, person=largest"),
        "hand_over_cheek": (np.asarray(hand), None, "a hand over the left cheek and mouth corner"),
        "object_over_mouth": (np.asarray(mug), None, "a mug before the mouth and chin"),
        "small_face": (on((1920, 1080), astronaut, 400, (1400, 600)), None, "the face ~4% of a 1920x1080 photo's width"),
        "tiny_face": (on((1920, 1080), astronaut, 200, (1500, 700)), None, "the face ~2% of a 1920x1080 photo's width"),
        "cropped_at_chin": (astronaut[:250], None, "cropped just below the chin"),
    }


def hard_inputs(pipe, docs: Path) -> dict:
    """Each hard photo through ``photo_to_model`` (quick): the message, or the person's dlib
    distance (input view, against the plain astronaut's crop) and pictures; the photo file is
    hashed before and after. Closed eyes and an open smile come from the synthetic renderer
    (one held-out person at eyes closed / jawOpen 0.6 + smile 1, and neutral for reference):
    the personal model rendered neutral is compared with the person's true neutral render."""
    import hashlib
    import tempfile

    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from aniportrait_hub.inversion import PhotoError, photo_to_model, prepare_photo

    exp_names = list(pipe.face_model().exp_names)
    faceid = FaceId()
    astronaut = data.astronaut()
    hopper = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    ref = faceid(prepare_photo(astronaut).image)
    out, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (photo, person, what) in _hard_cases(astronaut, hopper).items():
            path = Path(tmp) / f"{name}.png"
            Image.fromarray(photo).save(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            t = time.perf_counter()
            try:
                tuned, ident = photo_to_model(pipe, path, "quick", person=person)
            except PhotoError as e:
                out[name] = {"what": what, "result": "refused", "message": str(e)}
            else:
                views = render_views(tuned, ident, exp_names)
                neutral = _neutral(tuned, ident)
                # the occluded and cropped photos against the plain astronaut; the group photo's
                # chosen person against their own crop
                d, r0 = faceid(views["input"]), ref if not name.startswith("group") else faceid(
                    prepare_photo(photo, person=person).image)
                out[name] = {"what": what, "result": "animated", "seconds": round(time.perf_counter() - t, 1),
                             "distance_input": None if d is None or r0 is None else round(float(np.linalg.norm(d - r0)), 3),
                             "messages": ident.info.get("messages", [])}
                rows.append((f"{name} ({what})", photo, [views["input"], neutral, views["yaw+20"]]))
            out[name]["photo_unchanged"] = hashlib.sha256(path.read_bytes()).hexdigest() == digest
            print(name, json.dumps(out[name]), flush=True)
    out.update(_synthetic_hard(pipe, rows))
    _sheet(rows, docs / "photo_identity_hard.png", heads=["photo", "input view", "neutral", "yaw+20"])
    return out


@torch.no_grad()
def _neutral(pipe, ident, res: int = 512) -> np.ndarray:
    cache = pipe.bake_identity(ident.latents, truncation_psi=1.0)
    img = pipe.render_frame(cache, torch.zeros_like(ident.expression), ident.joint_eulers, ident.camera, res).image[0]
    return (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def _synthetic_hard(pipe, rows: list) -> dict:
    """Eyes closed and an open smile on a held-out synthetic person (on grey, through the whole
    photo path): the personal model rendered neutral, against the aligned crop of the same
    person's neutral photo (on white, PSNR; the neutral photo's own model is the reference)."""
    import math

    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
    from aniportrait_hub.evaluation.metrics import psnr
    from aniportrait_hub.inversion import PhotoError, photo_to_model, prepare_photo

    exp_names = list(pipe.face_model().exp_names)
    rend = SyntheticRenderer(SynthConfig(res=512, face_res=256, seed=2026))
    base = rend.person(0).labels
    lab = {"betas": base["betas"], "face_id": base["face_id"], "joint_eulers": np.zeros((6, 3)),
           "camera": np.array([math.pi / 2, math.pi / 2])}

    def photo(expr: dict) -> np.ndarray:
        e = np.zeros(len(exp_names))
        for k, v in expr.items():
            e[exp_names.index(k)] = v
        rgba = rend.render(0, labels={**lab, "expression": e})[1]["rgba"].astype(np.float32) / 255
        return (255 * (rgba[..., :3] * rgba[..., 3:] + 0.5 * (1 - rgba[..., 3:]))).round().astype(np.uint8)

    ref = prepare_photo(photo({}))
    truth = (ref.image.astype(np.float32) / 255 * ref.mask[..., None] + 1 - ref.mask[..., None])
    out = {}
    for name, expr in {"synthetic_neutral": {}, "synthetic_eyes_closed": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
                       "synthetic_open_smile": {"jawOpen": 0.6, "mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}}.items():
        img = photo(expr)
        try:
            tuned, ident = photo_to_model(pipe, img, "quick")
        except PhotoError as e:
            out[name] = {"result": "refused", "message": str(e)}
            continue
        neutral = _neutral(tuned, ident)
        fit = {k: round(float(ident.expression[0, exp_names.index(k)]), 2) for k in expr}
        out[name] = {"result": "animated", "fitted": fit,
                     "neutral_psnr_vs_neutral_photo": round(float(psnr(neutral.astype(np.float32) / 255, truth)), 2)}
        rows.append((f"{name} ({'neutral' if not expr else ', '.join(expr)})", img,
                     [render_views(tuned, ident, exp_names)["input"], neutral, (truth * 255).round().astype(np.uint8)],
                     ["photo", "input view", "neutral", "the neutral photo's crop"]))
        print(name, json.dumps(out[name]), flush=True)
    return out


def speed(pipe, qualities: list[str], repeats: int = 1) -> dict:
    """Seconds of photo -> personal model per photo and quality, with nothing else in the run
    (the ``real`` part times them between renders and pictures)."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from aniportrait_hub.inversion import photo_to_model

    photos = {"astronaut": data.astronaut(),
              "hopper": np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
                                   .convert("RGB"))}
    out = {}
    for name, photo in photos.items():
        for q in qualities:
            secs = []
            for _ in range(repeats):
                t = time.perf_counter()
                photo_to_model(pipe, photo, q)
                secs.append(round(time.perf_counter() - t, 1))
            out[f"{name}_{q}"] = secs
            print("speed", name, q, secs, flush=True)
    return out


def _sheet(rows, path: Path, s: int = 192, heads=None) -> None:
    from PIL import Image, ImageDraw

    cols = len(heads) if heads else 1 + len(VIEWS)
    sheet = Image.new("RGB", (s * cols, (s + 18) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, crop, views, *own) in enumerate(rows):
        y = i * (s + 18)
        draw.text((4, y + 2), f"{label}:  " + " | ".join(own[0] if own else heads or ["photo", *VIEWS]), fill=(0, 0, 0))
        im = Image.fromarray(crop)
        im.thumbnail((s, s))
        sheet.paste(im, (0, y + 18))
        for j, img in enumerate(views.values() if isinstance(views, dict) else views):
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
    ap.add_argument("--parts", default="real,synthetic,hard")
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
    if "speed" in parts:
        report["speed_seconds"] = speed(pipe, a.qualities.split(","))
    if "hard" in parts:
        report["hard_inputs"] = hard_inputs(pipe, a.docs)
    if "synthetic" in parts:
        report["synthetic"] = {"people": a.people, "variants": synthetic(pipe, a.people)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
