"""Painted appearance of the open body for synthetic portraits (issue: datasets).

Face regions are found on the mesh from the 52 ARKit face units (which vertices each unit
moves) and the named landmarks, so they follow the asset rather than hand-picked indices:
lips (a band around the mouth cavity's rim), mouth cavity and tongue (dark), brows (browDown / browInnerUp, above the eyes), eyeballs (eyeLook
units) with iris and pupil around the eye's front-most point, scalp (head above the brows and
behind the face), clothing (below the neck). Colours are drawn per sample from palettes (our
choice, named in :class:`AppearanceConfig`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from aniportrait_hub.body.body_model import BodyModel
from aniportrait_hub.body.conventions import HEAD, NECK
from aniportrait_hub.body.face_model import FaceModel

#: Skin tones (linear-ish RGB in [0, 1]), light to dark (our palette).
SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.91, 0.72, 0.60], [0.85, 0.62, 0.50], [0.74, 0.52, 0.39],
                       [0.60, 0.41, 0.29], [0.45, 0.30, 0.21], [0.33, 0.22, 0.16]])
HAIR_COLOURS = np.array([[0.05, 0.04, 0.03], [0.16, 0.10, 0.06], [0.32, 0.20, 0.11], [0.55, 0.38, 0.20],
                         [0.78, 0.62, 0.38], [0.55, 0.55, 0.55], [0.40, 0.12, 0.06]])
IRIS_COLOURS = np.array([[0.25, 0.15, 0.08], [0.12, 0.08, 0.05], [0.30, 0.40, 0.55], [0.30, 0.42, 0.28]])


@dataclasses.dataclass
class FaceRegions:
    """Boolean masks over the body vertices [V]."""

    lips: np.ndarray
    mouth: np.ndarray
    brows: np.ndarray
    sclera: np.ndarray
    iris: np.ndarray
    pupil: np.ndarray
    scalp: np.ndarray
    clothing: np.ndarray

    @classmethod
    def from_models(cls, body: BodyModel, face: FaceModel) -> "FaceRegions":
        with torch.no_grad():
            out = body(torch.zeros(1, 10), torch.zeros(1, 6, 3))
        v = out.neutral_vertices[0].numpy()  # canonical pose, world units
        nv = v.shape[0]
        eb, names, fid = face.exp_basis.numpy(), face.exp_names, face.body_vertex_ids.numpy()
        lm = body.landmark_vertex_ids
        dominant = body.smpl.lbs_weights.argmax(1).numpy()

        def moved(units, frac):
            d = sum(np.linalg.norm(eb[names.index(u)], axis=1) for u in units)
            m = np.zeros(nv, bool)
            m[fid[d > frac * d.max()]] = True
            return m

        eye_y = max(v[lm[k], 1] for k in ("left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer"))
        # Mouth: the interior geometry (rigidly head-skinned, not an inverse-skinning candidate)
        # below the eyes is the cavity and tongue; the lips are the surface band around its
        # rim, thickest at the middle and tapering to the corners (our choice of shape).
        interior = (dominant == HEAD) & ~np.isin(np.arange(nv), body.candidate_vertex_ids.numpy())
        mouth = interior & (v[:, 1] < eye_y - 0.03)
        faces = body.faces.numpy()
        rim_faces = mouth[faces].any(1) & ~mouth[faces].all(1)
        rim = np.zeros(nv, bool)
        rim[faces[rim_faces].ravel()] = True
        rim &= ~interior
        lips = np.zeros(nv, bool)
        if rim.any():
            cx, half = v[rim, 0].mean(), np.abs(v[rim, 0] - v[rim, 0].mean()).max()
            near = (~interior) & (np.abs(v[:, 0] - cx) < half + 0.002) & (v[:, 2] > v[rim, 2].min() - 0.002)
            d = np.linalg.norm(v[near][:, None] - v[rim][None], axis=-1).min(1)
            taper = np.sqrt(np.clip(1 - ((v[near, 0] - cx) / (half + 0.002)) ** 2, 0, 1))
            lips[np.nonzero(near)[0][d < 0.0015 + 0.008 * taper]] = True
        brows = moved(["browDownLeft", "browDownRight", "browInnerUp"], 0.45) & (v[:, 1] > eye_y + 0.008)
        eyes = moved(["eyeLookInLeft", "eyeLookInRight", "eyeLookUpLeft", "eyeLookUpRight"], 0.3)
        sclera = np.zeros(nv, bool)
        iris = np.zeros(nv, bool)
        pupil = np.zeros(nv, bool)
        for side, sx in (("left", 1.0), ("right", -1.0)):
            this = eyes & (np.sign(v[:, 0]) == sx)
            if not this.any():
                continue
            front = v[this][np.argmax(v[this, 2])]
            dxy = np.linalg.norm(v[:, :2] - front[:2], axis=1)
            sclera |= this
            iris |= this & (dxy < 0.0075) & (v[:, 2] > front[2] - 0.006)
            pupil |= this & (dxy < 0.003) & (v[:, 2] > front[2] - 0.003)
        brow_top = v[brows, 1].max() if brows.any() else eye_y + 0.03
        face_front = v[lm["nose_tip"], 2] - 0.06
        scalp = (dominant == HEAD) & ((v[:, 1] > brow_top + 0.012) | ((v[:, 2] < face_front) & (v[:, 1] > eye_y - 0.01)))
        scalp &= ~moved(names, 0.05)  # never the face itself
        clothing = ~np.isin(dominant, (HEAD, NECK)) & (v[:, 1] < v[lm["chin"], 1] - 0.06)
        return cls(lips, mouth, brows, sclera & ~iris, iris & ~pupil, pupil, scalp, clothing)


@dataclasses.dataclass
class AppearanceConfig:
    """Colour sampling of a synthetic person (our choices)."""

    skin_jitter: float = 0.03
    """Per-channel jitter added to the drawn skin tone."""
    lip_darkening: tuple[float, float] = (0.70, 0.85)
    """Lip colour = skin times this factor range, reddened."""
    bald_probability: float = 0.05
    """Chance of no painted scalp hair."""


@dataclasses.dataclass
class Appearance:
    """One person's colours."""

    skin: np.ndarray
    lips: np.ndarray
    brows: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    clothing: np.ndarray
    bald: bool

    @classmethod
    def sample(cls, rng: np.random.Generator, cfg: AppearanceConfig = AppearanceConfig()) -> "Appearance":
        skin = np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, cfg.skin_jitter, 3), 0, 1)
        lips = np.clip(skin * rng.uniform(*cfg.lip_darkening) * np.array([1.0, 0.72, 0.72]), 0, 1)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
        brows = np.clip(hair * 0.8 + 0.02, 0, 1)
        clothing = rng.uniform(0.05, 0.9, 3)
        return cls(skin, lips, brows, hair, IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], clothing,
                   bool(rng.random() < cfg.bald_probability))

    def paint(self, regions: FaceRegions) -> np.ndarray:
        """Vertex colours [V, 3]."""
        col = np.tile(self.skin, (regions.lips.shape[0], 1))
        col[regions.clothing] = self.clothing
        if not self.bald:
            col[regions.scalp] = self.hair
        col[regions.lips] = self.lips
        col[regions.mouth] = self.skin * np.array([0.35, 0.12, 0.12])
        col[regions.brows] = self.brows
        col[regions.sclera] = [0.93, 0.92, 0.90]
        col[regions.iris] = self.iris
        col[regions.pupil] = [0.02, 0.02, 0.02]
        return col
