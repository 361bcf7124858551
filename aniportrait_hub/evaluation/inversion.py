"""Own-photo fidelity against ground truth (issue: own-photo animation).

Held-out synthetic people (a synthesizer seed the default model never saw) are rendered once
frontally by the synthetic renderer; each is inverted from that ONE render (its true geometry
and labels given: this measures the appearance inversion and pivotal tuning, not the label fit,
which the data-preparation round trip measures) and rendered by the model at labels it was not
fitted to, next to the synthetic renderer's images of the same person at the same labels:

- ``input``: the frontal view it was fitted to (for reference);
- ``yaw-20`` / ``yaw+20``: the camera 20 deg to either side;
- ``head_pose``: the head turned 25 deg and pitched 10 deg;
- ``expression``: a smile with the mouth open.

Scores: PSNR and SSIM of the portrait (person on white) and the IoU of the person masks, at
256^2. Variants (each a :class:`~aniportrait_hub.inversion.PhotoQuality`, with and without
pivotal tuning; the untuned score is the inverted code on the unchanged generator).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

#: Held-out synthesizer seed (the default model was taught with seed 0's people).
HELDOUT_SEED = 2026
#: Scoring side.
SIDE = 256


def conditions(exp_names: list[str]) -> dict[str, dict]:
    """Label changes of each test condition (relative to the frontal, neutral input)."""
    smile = np.zeros(len(exp_names))
    for name, v in (("mouthSmileLeft", 0.9), ("mouthSmileRight", 0.9), ("jawOpen", 0.4)):
        smile[exp_names.index(name)] = v
    head = np.zeros((6, 3))
    head[3] = [0.0, math.radians(25), math.radians(10)]
    return {"input": {}, "yaw-20": {"camera_yaw": -20.0}, "yaw+20": {"camera_yaw": 20.0},
            "head_pose": {"joint_eulers": head}, "expression": {"expression": smile}}


def _labels(base: dict, change: dict) -> dict:
    lab = {k: np.array(v, dtype=np.float64) for k, v in base.items()}
    if "camera_yaw" in change:
        lab["camera"] = lab["camera"] + [0.0, math.radians(change["camera_yaw"])]
    for k in ("joint_eulers", "expression"):
        if k in change:
            lab[k] = np.asarray(change[k], np.float64)
    return lab


def _on_white(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    a = rgba[..., 3:].astype(np.float32) / 255
    img = rgba[..., :3].astype(np.float32) / 255 * a + (1 - a)
    img = np.asarray(Image.fromarray((img * 255).round().astype(np.uint8)).resize((SIDE, SIDE), Image.LANCZOS))
    mask = np.asarray(Image.fromarray(rgba[..., 3]).resize((SIDE, SIDE), Image.BILINEAR)).astype(np.float32) / 255
    return img.astype(np.float32) / 255, mask


def truth(n_people: int, exp_names: list[str], seed: int = HELDOUT_SEED) -> list[dict]:
    """The held-out people: labels and the synthetic renderer's images at every condition."""
    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer

    rend = SyntheticRenderer(SynthConfig(res=512, face_res=256, seed=seed))
    people = []
    for i in range(n_people):
        base = rend.person(i).labels
        base = {"betas": base["betas"], "face_id": base["face_id"], "expression": np.zeros(len(exp_names)),
                "joint_eulers": np.zeros((6, 3)), "camera": np.array([math.pi / 2, math.pi / 2])}
        views = {}
        for name, change in conditions(exp_names).items():
            lab = _labels(base, change)
            rec, images = rend.render(i, labels=lab)
            img, mask = _on_white(images["rgba"])
            views[name] = {"labels": lab, "image": img, "mask": mask, "face": images["face"], "rgba": images["rgba"]}
        people.append({"index": i, "base": base, "views": views})
    return people


def _t(a, shape=None):
    t = torch.as_tensor(np.asarray(a), dtype=torch.float32)
    return t[None] if shape is None else t.reshape(shape)


def target_of(person: dict):
    """The inversion target: the frontal render, its mask and face crop, the true labels."""
    from aniportrait_hub.inversion.latents import PhotoTarget

    v = person["views"]["input"]
    lab = v["labels"]
    rgba = torch.as_tensor(v["rgba"]).permute(2, 0, 1).float() / 255
    face = torch.as_tensor(v["face"]).permute(2, 0, 1).float() / 255
    return PhotoTarget.from_images(rgba[:3], rgba[3], face, _t(lab["face_id"]), _t(lab["betas"]),
                                   _t(lab["expression"]), _t(lab["joint_eulers"]), _t(lab["camera"]))


@torch.no_grad()
def score(pipe, latents, person: dict) -> dict:
    """PSNR / SSIM / mask IoU of ``latents`` rendered by ``pipe`` at every condition."""
    from aniportrait_hub.evaluation.metrics import mask_iou, psnr, ssim

    cache = pipe.bake_identity(latents, truncation_psi=1.0)
    out = {}
    for name, v in person["views"].items():
        lab = v["labels"]
        r = pipe.render_frame(cache, _t(lab["expression"]), _t(lab["joint_eulers"]), _t(lab["camera"]), SIDE)
        img = r.image[0].permute(1, 2, 0).clamp(0, 1).numpy()
        out[name] = {"psnr": psnr(img, v["image"]), "ssim": ssim(img, v["image"]),
                     "iou": mask_iou(r.mask[0, 0].numpy(), v["mask"]), "render": img}
    return out


@torch.no_grad()
def locality(pipe, tuned, n: int = 4, seed: int = 11, side: int = 128) -> float:
    """Mean absolute change ([0, 1] pixels) of ``n`` other identities' renders between ``pipe``
    and ``tuned`` (0 when the tuning changed no weights: FiLM mode)."""
    if tuned is pipe:
        return 0.0
    other = pipe.sample_latents(n, seed=seed)
    a = pipe(latents=other, seed=seed, resolution=side, output_type="np").images
    b = tuned(latents=other, seed=seed, resolution=side, output_type="np").images
    return float(np.abs(a - b).mean())


def evaluate(pipe, people: list[dict], variants: dict, encoder=None, progress: bool = True) -> dict:
    """Scores of every variant (name -> PhotoQuality) with and without tuning, per person and
    condition, plus seconds and how far tuning moved other people (``"others_moved"``,
    :func:`locality`, a mean over people); renders kept in the rows for pictures."""
    from aniportrait_hub.inversion.identity import identity_from_target

    results = {}
    for vname, q in variants.items():
        rows = {"untuned": [], "tuned": []}
        secs, moved = {"invert": [], "tune": [], "maps": []}, []
        for person in people:
            target = target_of(person)
            tuned, ident = identity_from_target(pipe, target, q, encoder=encoder)
            secs["invert"].append(ident.info["invert_seconds"])
            secs["tune"].append(ident.info["tune_seconds"])
            secs["maps"].append(ident.info.get("map_seconds", 0.0))
            rows["untuned"].append(score(pipe, dataclasses.replace(ident.latents, film_offset=None, map_residual=None),
                                         person))
            rows["tuned"].append(score(tuned, ident.latents, person))
            moved.append(locality(pipe, tuned))
            if progress:
                print(f"[fidelity] {vname} person {person['index']}: "
                      f"untuned yaw+20 {rows['untuned'][-1]['yaw+20']['psnr']:.2f} dB, "
                      f"tuned {rows['tuned'][-1]['yaw+20']['psnr']:.2f} dB", flush=True)
        results[vname] = {"rows": rows, "seconds": {k: float(np.mean(v)) for k, v in secs.items()},
                          "others_moved": float(np.mean(moved)),
                          "config": dataclasses.asdict(q)}
    return results


def summary(results: dict) -> dict:
    """Means over people: variant -> untuned|tuned -> condition -> metric."""
    out = {}
    for vname, r in results.items():
        out[vname] = {"seconds": r["seconds"], "others_moved": round(r["others_moved"], 4)}
        for tuned, rows in r["rows"].items():
            out[vname][tuned] = {c: {m: round(float(np.mean([row[c][m] for row in rows])), 3)
                                     for m in ("psnr", "ssim", "iou")} for c in rows[0]}
    return out


def mean_start(pipe, people: list[dict]) -> dict:
    """The reference floor: the prior's mean code (eps = 0) with the true geometry, untuned."""
    from aniportrait_hub.inversion.latents import shell_face_id
    from aniportrait_hub.pipelines.pipeline import PortraitLatents

    rows = []
    for person in people:
        t = target_of(person)
        lat = PortraitLatents(t.face_id, t.betas, torch.zeros(1, pipe.priors.config.noise_dim),
                              shell_face_id(pipe, t.face_id))
        rows.append(score(pipe, lat, person))
    return {c: {m: round(float(np.mean([row[c][m] for row in rows])), 3) for m in ("psnr", "ssim", "iou")}
            for c in rows[0]}

