"""Attribute edits: age, gender, body weight, hair length and skin tone as linear directions in
the identity's latents, learned from the synthetic data's own labels.

- Body attributes (``age``, ``gender``, ``weight``) are anny phenotypes; the body shape betas
  are a PCA of anny bodies (:mod:`aniportrait_hub.body.build_open_assets`). Random phenotypes
  are built with anny and projected onto the betas; a linear regression of the betas on all the
  phenotypes (standardised) gives, per attribute, the change of the betas when that phenotype
  rises one standard deviation with the others held.
- Appearance attributes (``hair_length``, ``skin_tone``) live in eps, the default model's
  appearance code (:mod:`aniportrait_hub.data.appearance_code`): the synthesizer's people are
  sampled, encoded, and their label (hair drop below the eyes, 0 without a curtain; skin
  darkness, 1 - luminance) regressed on the code; the direction is the least-norm code change
  that raises the predicted label by one standard deviation.

An edit of strength s adds s directions: ``pipe(..., edits={"age": 1.0})``. The directions are
stored in the pipeline's config (``edit_directions``), so personal models keep them.

Learn them (anny's first build takes ~2 min) and write them into a pipeline folder::

    aniportrait learn-edits --model aniportrait_hub/pretrained/default --write
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.conditioning.edits import ATTRIBUTES, apply_edits  # noqa: F401  (re-exported)

BODY_ATTRIBUTES = ("age", "gender", "weight")


def appearance_labels(looks, styles) -> dict[str, np.ndarray]:
    """The appearance attributes of synthetic people (their colours and hair styles)."""
    lum = np.array([0.2126, 0.7152, 0.0722])
    return {"hair_length": np.array([s.length if (s.long and not lk.bald) else 0.0 for lk, s in zip(looks, styles)]),
            "skin_tone": np.array([1 - float(lk.skin @ lum) for lk in looks])}


def _synthetic_people(n: int, seed: int):
    from aniportrait_hub.data.appearance import Appearance
    from aniportrait_hub.data.appearance_code import encode
    from aniportrait_hub.data.hair import HairStyle

    rng = np.random.default_rng(seed)
    looks, styles, codes = [], [], []
    for _ in range(n):
        look, style = Appearance.sample(rng), HairStyle.sample(rng)
        looks.append(look)
        styles.append(style)
        codes.append(encode(look, style, rng))
    return looks, styles, np.stack(codes)


def learn_appearance_directions(n: int = 20000, seed: int = 0) -> dict:
    """Directions in eps of :data:`ATTRIBUTES`' appearance attributes (see the module doc)."""
    looks, styles, codes = _synthetic_people(n, seed)
    labels = appearance_labels(looks, styles)
    x = np.concatenate([codes, np.ones((n, 1))], 1)
    out = {}
    for name, y in labels.items():
        ys = (y - y.mean()) / y.std()
        w = np.linalg.lstsq(x, ys, rcond=None)[0][:-1]
        r2 = 1 - np.var(ys - x[:, :-1] @ w - (ys - x[:, :-1] @ w).mean()) / np.var(ys)
        out[name] = {"noise": (w / (w @ w)).tolist(), "label_std": float(y.std()), "linear_r2": round(float(r2), 3)}
    return out


def learn_body_directions(n: int = 600, seed: int = 0) -> dict:
    """Directions in betas of the body attributes, from anny bodies projected onto the betas."""
    from aniportrait_hub.body.build_open_assets import BuildConfig, _anny_model, _sample_phenotypes
    from aniportrait_hub.body.conventions import UPPER_BODY_JOINTS
    from aniportrait_hub.body.open_asset_fit import AnnyPoser, project

    arrays = np.load(Path(__file__).resolve().parents[1] / "body" / "data" / "open_body_face.npz")
    template, dirs = arrays["v_template"], arrays["shapedirs"]  # [V, 3], [V, 3, 10]
    dominant = arrays["weights"].argmax(1)
    cfg = BuildConfig()
    w = np.repeat(np.where(np.isin(dominant, UPPER_BODY_JOINTS), 1.0, cfg.outside_region_weight), 3)
    _, model = _anny_model()
    labels = list(model.phenotype_labels)
    phen = _sample_phenotypes(labels, n, cfg, torch.Generator().manual_seed(seed))
    poser = AnnyPoser(model, list(model.bone_labels))
    with torch.no_grad():
        verts = np.concatenate([poser.forward(c)[0].numpy() for c in phen.split(100)])
    betas = project(verts.reshape(n, -1), template.reshape(-1), dirs.reshape(-1, 10).T, w)
    p = phen.numpy()
    ps = (p - p.mean(0)) / p.std(0)
    x = np.concatenate([ps, np.ones((n, 1))], 1)
    coef = np.linalg.lstsq(x, betas, rcond=None)[0][:-1]  # [P, 10]: betas per phenotype std
    back = np.linalg.lstsq(np.concatenate([betas, np.ones((n, 1))], 1), ps, rcond=None)[0]  # betas -> phenotypes
    resid = ps - np.concatenate([betas, np.ones((n, 1))], 1) @ back
    r2 = 1 - resid.var(0) / ps.var(0)
    out = {}
    for name in BODY_ATTRIBUTES:
        k = labels.index(name)
        out[name] = {"betas": coef[k].tolist(), "label_std": float(p[:, k].std()),
                     "betas_explain_r2": round(float(r2[k]), 3)}
    out["_body_readout"] = {"labels": labels, "weights": back.tolist(), "mean": p.mean(0).tolist(),
                            "std": p.std(0).tolist()}
    return out


def parse_edits(items: list[str] | None) -> dict[str, float]:
    """``["age=+1", "skin_tone=-0.5"]`` -> ``{"age": 1.0, "skin_tone": -0.5}``."""
    out = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--edit takes NAME=STRENGTH (e.g. age=+1), got {item!r}") from None
        if not eq:
            raise ValueError(f"--edit takes NAME=STRENGTH (e.g. age=+1), got {item!r}")
    return out


def teacher_effects(directions: dict, n: int = 4000, seed: int = 1, strength: float = 1.0) -> dict:
    """How far each edit moves every attribute, measured on the synthetic teacher: appearance
    edits decode the moved code back into the synthesizer's person; body edits read the
    phenotypes back from the moved betas (the linear readout learned with the directions).
    Values are mean changes in standard deviations of each attribute."""
    from aniportrait_hub.data.appearance_code import decode

    looks, styles, codes = _synthetic_people(n, seed)
    base = appearance_labels(looks, styles)
    rb = directions.get("_body_readout")
    effects = {}
    for name in ATTRIBUTES:
        if name not in directions:
            continue
        d = directions[name]
        row = {}
        if "noise" in d:
            moved = codes + strength * np.asarray(d["noise"])
            dec = [decode(c) for c in moved]
            after = appearance_labels([a for a, _ in dec], [b for _, b in dec])
            for k in base:
                row[k] = round(float((after[k] - base[k]).mean() / directions[k]["label_std"]), 3)
        if "betas" in d and rb is not None:
            back = np.asarray(rb["weights"])  # [11, P]: phenotype z-scores from betas
            dz = strength * np.asarray(d["betas"]) @ back[:-1]
            for k in BODY_ATTRIBUTES:
                row[k] = round(float(dz[rb["labels"].index(k)]), 3)
        effects[name] = row
    return effects


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.inversion.edits", "learn-edits"))
