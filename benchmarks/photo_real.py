"""Real photos animated: the astronaut (scikit-image) and Grace Hopper (matplotlib).

    python benchmarks/photo_real.py [--out benchmarks/results/photo_real.json] [--docs docs]

For each photo: the personal model at quick and full quality (seconds on this machine), a
picture of the views (docs/animate_photos.png), mp4s of the full model (a camera sweep, a head
turn and a smile, docs/animate_<name>.mp4; driven by the shipped real track,
docs/animate_<name>_driven.mp4), and identity preservation: the distance between dlib's
ResNet face descriptors (face-recognition-models weights; dlib calls < 0.6 the same person) of
the photo and of each rendered view, next to two references: the other photo's person and
random people of the generator.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VIEWS = {"input": {}, "yaw-20": {"yaw": -20}, "yaw+20": {"yaw": 20}, "head_turn": {"head": 25}, "smile": {"smile": 1}}


class FaceId:
    """dlib's face recognition ResNet (weights from the face-recognition-models package)."""

    def __init__(self):
        import dlib

        root = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]) / "models"
        self.det = dlib.get_frontal_face_detector()
        self.sp = dlib.shape_predictor(str(root / "shape_predictor_68_face_landmarks.dat"))
        self.rec = dlib.face_recognition_model_v1(str(root / "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, img: np.ndarray):
        img = np.ascontiguousarray(img, dtype=np.uint8)
        dets = self.det(img, 1)
        if not dets:
            return None
        d = max(dets, key=lambda r: r.width() * r.height())
        return np.array(self.rec.compute_face_descriptor(img, self.sp(img, d)))


def view_labels(person, change: dict, exp_names):
    exp, eul, cam = person.expression.clone(), person.joint_eulers.clone(), person.camera.clone()
    if "yaw" in change:
        cam[0, 1] += math.radians(change["yaw"])
    if "head" in change:
        eul[0, 3, 1] += math.radians(change["head"])
    if "smile" in change:
        for n, v in (("mouthSmileLeft", 1.0), ("mouthSmileRight", 1.0), ("jawOpen", 0.35)):
            exp[0, exp_names.index(n)] = max(float(exp[0, exp_names.index(n)]), v)
    return exp, eul, cam


@torch.no_grad()
def render_views(pipe, person, exp_names, res=512):
    cache = pipe.bake_identity(person.latents, truncation_psi=1.0)
    out = {}
    for name, change in VIEWS.items():
        exp, eul, cam = view_labels(person, change, exp_names)
        img = pipe.render_frame(cache, exp, eul, cam, res).image[0]
        out[name] = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/photo_real.json")
    ap.add_argument("--docs", default="docs")
    a = ap.parse_args(argv)
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN
    from aniportrait_hub.commands.animate import sweep_sequence
    from aniportrait_hub.commands.drive import DriveConfig
    from aniportrait_hub.commands.drive import run as drive
    from aniportrait_hub.inversion import photo_to_model, prepare_photo
    from aniportrait_hub.pipelines.pipeline import image_uint8
    from aniportrait_hub.video import write_video

    docs = Path(a.docs)
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    exp_names = list(pipe.face_model().exp_names)
    faceid = FaceId()
    photos = {"astronaut": data.astronaut(),
              "hopper": np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
                                   .convert("RGB"))}
    crops = {k: prepare_photo(v).image for k, v in photos.items()}
    desc = {k: faceid(v) for k, v in crops.items()}
    report = {"threshold_same_person": 0.6, "photos": {}}
    rows = []
    for name, photo in photos.items():
        r = {}
        models = {}
        for quality in ("quick", "full"):
            t = time.perf_counter()
            tuned, person = photo_to_model(pipe, photo, quality)
            r[f"{quality}_seconds"] = round(time.perf_counter() - t, 1)
            models[quality] = (tuned, person)
        full = models["full"][1]
        untuned = dataclasses.replace(full, latents=dataclasses.replace(full.latents, film_offset=None))
        variants = {"full, no tuning": (pipe, untuned), "quick": models["quick"], "full": models["full"]}
        dist = {}
        for vname, (p, person) in variants.items():
            views = render_views(p, person, exp_names)
            dist[vname] = {v: (None if (d := faceid(img)) is None else round(float(np.linalg.norm(d - desc[name])), 3))
                           for v, img in views.items()}
            if vname == "full":
                rows.append((name, crops[name], views))
        r["descriptor_distance_to_photo"] = dist
        other = next(k for k in photos if k != name)
        r["reference_other_photo"] = round(float(np.linalg.norm(desc[other] - desc[name])), 3)
        rand = []
        for seed in range(8):
            img = (pipe(seed=seed, resolution=512, output_type="np").images[0] * 255).round().astype(np.uint8)
            if (d := faceid(img)) is not None:
                rand.append(float(np.linalg.norm(d - desc[name])))
        r["reference_random_generator_people"] = round(float(np.mean(rand)), 3) if rand else None
        tuned, person = models["full"]
        seq = sweep_sequence("all", person.expression, person.joint_eulers, person.camera, exp_names,
                             pipe.assets.config.basis_name, 3.0, 25.0)
        cache = tuned.bake_identity(person.latents, truncation_psi=1.0)
        frames = (np.concatenate([np.asarray(Image.fromarray(crops[name]).resize((256, 256))), image_uint8(o.image[0])], 1)
                  for o in tuned.animate_outputs(cache, seq, 256))
        write_video(docs / f"animate_{name}.mp4", frames, 25.0, overwrite=True)
        drive(DriveConfig(out=docs / f"animate_{name}_driven.mp4", authors=Path("examples/driving/real_sample1"),
                          relative=True, resolution=256, overwrite=True), pipe=tuned, identity=cache)
        report["photos"][name] = r
        print(name, json.dumps(r), flush=True)
    s = 256
    sheet = Image.new("RGB", (s * (1 + len(VIEWS)), s * len(rows)), "white")
    for i, (name, crop, views) in enumerate(rows):
        sheet.paste(Image.fromarray(crop).resize((s, s)), (0, i * s))
        for j, img in enumerate(views.values()):
            sheet.paste(Image.fromarray(img).resize((s, s)), ((j + 1) * s, i * s))
    sheet.save(docs / "animate_photos.png")
    report["columns_of_picture"] = ["photo (aligned crop)"] + list(VIEWS)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
