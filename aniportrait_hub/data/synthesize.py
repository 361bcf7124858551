"""Synthetic head-and-shoulder portraits of the open body model, with exact labels.

    aniportrait synthesize --out DIR --n N --res R [--seed S] [--workers 2]

Each sample draws a person (body shape, face identity, skin / lips / brows / eyes / clothing
colours, short or long hair), an expression (neutral or a sparse, realistic combination of the
52 face units), joint 12-17 poses and a camera in SHHQ-like ranges (mostly frontal, moderate
turns and shrugs), then renders, by Embree ray casting on the CPU: the portrait (RGBA,
background removed), the face-camera image of the same person (METHOD.md 1.5), depth and a part
mask; and writes the exact labels in the dataset format (:mod:`aniportrait_hub.data.format`).
Deterministic per (seed, index); every 10th sample (index % 10 == 9) is a held-out identity.
A contact sheet (portraits, face images, depth) is written as ``contact_sheet.png``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.body import BodyModel, FaceModel
from aniportrait_hub.data.appearance import Appearance, FaceRegions
from aniportrait_hub.data.format import DatasetInfo, DatasetWriter, Record
from aniportrait_hub.data.hair import HairStyle, build_hair, pose_hair
from aniportrait_hub.data.raycast import cast_rays, interpolate
from aniportrait_hub.rendering.cameras import face_camera, face_camera_label, portrait_camera
from aniportrait_hub.rendering.renderer import RenderSettings

#: Expression "moves": (units, intensity range) drawn 1-3 at a time (our choice of realistic,
#: symmetric combinations; single-sided units appear only through them).
EXPRESSION_MOVES = (
    (("jawOpen",), (0.1, 0.8)),
    (("mouthSmileLeft", "mouthSmileRight"), (0.2, 0.9)),
    (("eyeBlinkLeft", "eyeBlinkRight"), (0.3, 1.0)),
    (("browInnerUp",), (0.2, 0.8)),
    (("browDownLeft", "browDownRight"), (0.2, 0.7)),
    (("mouthPucker",), (0.2, 0.8)),
    (("eyeWideLeft", "eyeWideRight"), (0.2, 0.8)),
    (("mouthFrownLeft", "mouthFrownRight"), (0.2, 0.7)),
    (("mouthFunnel",), (0.2, 0.6)),
    (("cheekPuff",), (0.2, 0.6)),
    (("eyeSquintLeft", "eyeSquintRight"), (0.2, 0.6)),
    (("mouthSmileLeft",), (0.2, 0.7)),
)
#: Relative chance of each move: the jaw (speech) three times the others (our choice).
MOVE_WEIGHTS = np.array([3.0] + [1.0] * (len(EXPRESSION_MOVES) - 1))
PART_IDS = {"background": 0, "skin": 1, "hair": 2, "clothing": 3, "eyes": 4, "lips": 5, "brows": 6}


@dataclasses.dataclass
class SynthConfig:
    """Run config of the synthetic builder (sampling ranges are our choices, SHHQ-like)."""

    out: Path = Path("synthetic")
    """Output dataset folder (must not hold a dataset yet)."""
    n: int = 16
    """Samples to render."""
    res: int = 256
    """Portrait side in pixels."""
    face_res: int = 0
    """Face-camera image side (0: half the portrait side, at least 64)."""
    seed: int = 0
    """Seed; sample i is a function of (seed, i) only."""
    workers: int = 2
    """Processes rendering in parallel."""
    neutral_probability: float = 0.3
    """Share of neutral expressions."""
    head_yaw_std: float = 0.3
    """Head yaw std (rad), clipped at 2 std."""
    head_pitch_std: float = 0.15
    """Head pitch std (rad)."""
    camera_yaw_std: float = 0.2
    """Camera yaw std around frontal (rad)."""
    camera_pitch_std: float = 0.06
    """Camera pitch std around frontal (rad)."""


def sample_labels(rng: np.random.Generator, cfg: SynthConfig, exp_names: list[str]) -> dict:
    """Body shape, face identity, expression, joint Euler angles and camera of one sample."""
    exp = np.zeros(len(exp_names))
    if rng.random() >= cfg.neutral_probability:
        for k in rng.choice(len(EXPRESSION_MOVES), size=rng.integers(1, 4), replace=False,
                            p=MOVE_WEIGHTS / MOVE_WEIGHTS.sum()):
            units, (lo, hi) = EXPRESSION_MOVES[k]
            val = rng.uniform(lo, hi)
            for u in units:
                exp[exp_names.index(u)] = max(exp[exp_names.index(u)], val)
    eul = np.zeros((6, 3))

    def clipped(std):
        return float(np.clip(rng.normal(0, std), -2 * std, 2 * std))

    eul[3] = [clipped(0.08), clipped(cfg.head_yaw_std), clipped(cfg.head_pitch_std)]  # head: roll, yaw, pitch
    eul[0] = [clipped(0.04), clipped(0.08), clipped(0.06)]  # neck
    eul[1, 0], eul[2, 0] = clipped(0.06), -clipped(0.06)  # collars: shrugs
    eul[4, 0], eul[5, 0] = clipped(0.08), clipped(0.08)  # shoulders: arms up or down a little
    camera = [math.pi / 2 + clipped(cfg.camera_pitch_std), math.pi / 2 + clipped(cfg.camera_yaw_std)]
    return {"betas": np.clip(rng.normal(0, 0.6, 10), -2.5, 2.5), "face_id": np.clip(rng.normal(0, 0.7, 80), -3, 3),
            "expression": exp, "joint_eulers": eul, "camera": camera}


class SyntheticRenderer:
    """Renders samples; holds the body/face models and their painted regions."""

    def __init__(self, cfg: SynthConfig):
        self.cfg = cfg
        self.body = BodyModel.from_open_default()
        self.face = FaceModel.from_open_default()
        self.regions = FaceRegions.from_models(self.body, self.face)
        self.faces = self.body.faces.numpy()
        self.settings = RenderSettings()
        self.dominant = self.body.smpl.lbs_weights.argmax(1).numpy()
        lm = self.body.landmark_vertex_ids
        self.eye_landmarks = [lm[k] for k in ("left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer")]
        r = self.regions
        part = np.full(self.body.num_vertices, PART_IDS["skin"])
        for name, mask in (("clothing", r.clothing), ("hair", r.scalp), ("lips", r.lips), ("brows", r.brows),
                           ("eyes", r.sclera | r.iris | r.pupil)):
            part[mask] = PART_IDS[name]
        self.parts = part

    def person(self, index: int, labels: dict | None = None) -> "Person":
        """Who sample ``index`` is and how it is posed: labels (``labels`` replaces any of the
        sampled ones, keys of :func:`sample_labels`), colours, hair style and light, all a
        function of (seed, index)."""
        rng = np.random.default_rng([self.cfg.seed, index])
        lab = sample_labels(rng, self.cfg, self.face.exp_names)
        lab.update({k: np.asarray(v, dtype=np.float64) for k, v in (labels or {}).items()})
        look = Appearance.sample(rng)
        style = HairStyle.sample(rng)
        light = rng.normal(0, 0.4, 3) + [0.0, 0.5, 1.0]
        return Person(index, lab, look, style, light / np.linalg.norm(light))

    def scene(self, person: "Person", canonical: bool = False) -> "Scene":
        """The person's mesh (body + hair) with colours, normals and parts: posed with its
        labels, or ``canonical`` (the neutral pose of the canonical space, neutral expression)."""
        import trimesh

        lab = person.labels
        exp = np.zeros_like(lab["expression"]) if canonical else lab["expression"]
        # 1. Body with the 3DMM identity and expression offsets.
        with torch.no_grad():
            out = self.body(torch.as_tensor(lab["betas"], dtype=torch.float32)[None],
                            torch.as_tensor(lab["joint_eulers"], dtype=torch.float32)[None],
                            rest_offsets=self.face.body_offsets(
                                torch.as_tensor(lab["face_id"], dtype=torch.float32)[None],
                                torch.as_tensor(exp, dtype=torch.float32)[None]))
        neutral = out.neutral_vertices[0].numpy()
        posed = neutral if canonical else out.vertices[0].numpy()
        # 2. Hair built in the neutral pose, posed with the body.
        normals = np.asarray(trimesh.Trimesh(neutral, self.faces, process=False).vertex_normals)
        eye_y = float(neutral[self.eye_landmarks, 1].mean())
        scalp = self.regions.scalp if not person.look.bald else np.zeros_like(self.regions.scalp)
        hair = build_hair(neutral, normals, self.faces, scalp, self.dominant, eye_y, person.style)
        hv = hair.vertices if canonical else pose_hair(hair, out.vertex_transforms[0].numpy())
        verts = np.concatenate([posed, hv])
        faces = np.concatenate([self.faces, hair.faces + len(posed)])
        strand = 0.85 + 0.15 * np.sin(40 * np.arctan2(hair.vertices[:, 0], hair.vertices[:, 2]))[:, None]
        colours = np.concatenate([person.look.paint(self.regions), np.clip(person.look.hair * strand, 0, 1)])
        parts = np.concatenate([self.parts, np.full(len(hv), PART_IDS["hair"])])
        vnorm = np.asarray(trimesh.Trimesh(verts, faces, process=False).vertex_normals)
        return Scene(verts, faces, colours, vnorm, parts, out.head_transform[0, :3, 3].double()[None])

    def render(self, index: int, return_hits: bool = False, labels: dict | None = None,
               light: np.ndarray | None = None) -> tuple[Record, dict]:
        """Sample ``index``: its record and images (rgba, face, depth, parts); with
        ``return_hits`` also the portrait's ray hits and faces ("hits", "faces": body triangles
        come first, so a triangle index below ``len(self.faces)`` is on the body). ``labels``
        replaces any of the sampled labels (keys of :func:`sample_labels`); the look still
        comes from (seed, index). ``light`` replaces the sampled light direction."""
        return self.render_person(self.person(index, labels), return_hits, light)

    def render_person(self, person: "Person", return_hits: bool = False,
                      light: np.ndarray | None = None) -> tuple[Record, dict]:
        """:meth:`render` of a given :class:`Person` (e.g. one decoded from an appearance code)."""
        cfg, lab, index = self.cfg, person.labels, person.index
        light = person.light if light is None else np.asarray(light, np.float64) / np.linalg.norm(light)
        sc = self.scene(person)
        # 3. Portrait and face camera.
        st = self.settings
        cam = portrait_camera(torch.tensor(np.asarray([lab["camera"]]), dtype=torch.float64), st.portrait_radius,
                              st.portrait_fov_deg, st.portrait_shift)
        fcam = face_camera(cam, sc.head, st.face_distance, st.face_fov_deg)
        face_res = cfg.face_res or max(64, cfg.res // 2)
        rgba, depth, part_img, hits = self._shade(sc, cam, cfg.res, light)
        face_rgba, _, _, _ = self._shade(sc, fcam, face_res, light)
        face_rgb = (face_rgba[..., :3].astype(np.float32) * (face_rgba[..., 3:] / 255.0)
                    + 255 * (1 - face_rgba[..., 3:] / 255.0)).astype(np.uint8)  # on white, like the renderer
        face_cam = face_camera_label(cam, sc.head, st.face_distance)[0].tolist()
        rec = Record(name=f"syn{index:06d}", camera=[float(c) for c in lab["camera"]],
                     betas=lab["betas"].tolist(), joint_eulers=lab["joint_eulers"].tolist(),
                     face_id=lab["face_id"].tolist(), expression=lab["expression"].tolist(), face_camera=face_cam,
                     split="heldout" if index % 10 == 9 else "train", identity=f"syn{index:06d}")
        images = {"rgba": rgba, "face": face_rgb, "depth": depth, "parts": part_img}
        if return_hits:
            images.update(hits=hits, faces=sc.faces)
        return rec, images

    def _shade(self, sc: "Scene", cam, res, light):
        hits = cast_rays(sc.vertices, sc.faces, cam, res)
        albedo = interpolate(hits, sc.faces, sc.colours)
        n = interpolate(hits, sc.faces, sc.normals)
        view = -cam.cam_to_world[0, :, 2].numpy()  # camera looks along -z
        rgb = shade(albedo, n, light, view)
        alpha = hits.mask.astype(np.float64)
        rgba = np.dstack([rgb * 255, alpha * 255]).round().astype(np.uint8)
        corner = np.argmax(hits.barycentric, -1)
        tri = np.clip(hits.triangle, 0, None)
        part = np.where(hits.mask, sc.parts[sc.faces[tri, corner]], 0)
        depth = np.where(hits.mask, hits.depth, 0.0).astype(np.float32)
        return rgba, depth, part, hits


@dataclasses.dataclass
class Person:
    """One synthetic person: sample index, labels (:func:`sample_labels`), colours, hair, light."""

    index: int
    labels: dict
    look: Appearance
    style: HairStyle
    light: np.ndarray


@dataclasses.dataclass
class Scene:
    """A person's mesh: vertices [V, 3] (world units), faces [F, 3], vertex colours, normals
    [V, 3], part ids [V]; ``head`` [1, 3] the posed head centre (places the face camera)."""

    vertices: np.ndarray
    faces: np.ndarray
    colours: np.ndarray
    normals: np.ndarray
    parts: np.ndarray
    head: torch.Tensor


def shade(albedo: np.ndarray, normals: np.ndarray, light: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Two-sided Lambert + a faint specular term (the hair sheet is seen from both sides):
    albedo [..., 3], normals [..., 3] (any length), unit light / view directions [3] -> rgb."""
    n = normals / (np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-9)
    lam = np.abs((n * light).sum(-1))
    spec = np.abs((n * view).sum(-1)) ** 8 * 0.05
    return np.clip(albedo * (0.35 + 0.65 * lam)[..., None] + spec[..., None], 0, 1)


_WORKER: SyntheticRenderer | None = None


def _init_worker(cfg: SynthConfig) -> None:
    global _WORKER
    torch.set_num_threads(1)
    _WORKER = SyntheticRenderer(cfg)


def _render(index: int):
    return _WORKER.render(index)


def contact_sheet(samples: list[dict], path: Path, columns: int = 4) -> None:
    """Portrait, face image and depth of each sample, side by side, as one PNG."""
    from PIL import Image

    tiles = []
    for s in samples:
        size = s["rgba"].shape[0]
        por = Image.alpha_composite(Image.new("RGBA", (size, size), "white"), Image.fromarray(s["rgba"])).convert("RGB")
        face = Image.fromarray(s["face"]).resize((size, size))
        d = s["depth"]
        fg = d > 0
        dv = np.zeros_like(d)
        if fg.any():
            dv[fg] = 1 - (d[fg] - d[fg].min()) / max(np.ptp(d[fg]), 1e-6)
        depth = Image.fromarray((dv * 255).astype(np.uint8)).convert("RGB")
        row = Image.new("RGB", (3 * size, size))
        for k, im in enumerate((por, face, depth)):
            row.paste(im, (k * size, 0))
        tiles.append(row)
    rows = (len(tiles) + columns - 1) // columns
    w, h = tiles[0].size
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % columns) * w, (i // columns) * h))
    sheet.save(path)


def build(cfg: SynthConfig) -> Path:
    """Render ``cfg.n`` samples into ``cfg.out`` (parallel over ``cfg.workers``, in order)."""
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    if cfg.n < 1 or not 32 <= cfg.res <= 2048:
        raise ValueError(f"need n >= 1 and 32 <= res <= 2048, got n={cfg.n}, res={cfg.res}")
    probe = FaceModel.from_open_default()
    writer = DatasetWriter(cfg.out, DatasetInfo(expression_basis=probe.basis_name, id_dim=probe.num_identity,
                                                exp_dim=probe.num_expression, resolution=cfg.res,
                                                source=f"synthetic open body, seed {cfg.seed}"))
    sheet = []
    if cfg.workers > 1:
        with get_context("spawn").Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,)) as pool:
            for rec, imgs in tqdm(pool.imap(_render, range(cfg.n)), total=cfg.n, desc="synthesize"):
                writer.add(rec, imgs["rgba"], face=imgs["face"], depth=imgs["depth"], parts=imgs["parts"])
                if len(sheet) < 16:
                    sheet.append(imgs)
    else:
        renderer = SyntheticRenderer(cfg)
        for i in tqdm(range(cfg.n), desc="synthesize"):
            rec, imgs = renderer.render(i)
            writer.add(rec, imgs["rgba"], face=imgs["face"], depth=imgs["depth"], parts=imgs["parts"])
            if len(sheet) < 16:
                sheet.append(imgs)
    contact_sheet(sheet, cfg.out / "contact_sheet.png")
    return cfg.out


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.data.synthesize", "synthesize"))
