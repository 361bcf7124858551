"""What the embedded default model must show (issue: the embedded default model).

    aniportrait evaluate-default [--model default] \\
        [--out benchmarks/results/default_model.json] [--pictures docs] [--quick]

Measures, on the model and against the synthetic teacher (the renderer that taught it):

- ``face_detection``: mediapipe face detection / face mesh on random seeds at 512^2 (psi 0.7,
  identity, expression, pose and camera sampled from the priors);
- ``control``: taught identities (synthesizer samples 0, 1, ... of seed 0) under label
  combinations they were never shown (drawn with another seed), and new people (held-out
  samples, whose eps is their appearance code): mask IoU, PSNR and SSIM against the teacher's
  render of the same person and labels (fixed light) at 128^2 and 512^2;
- ``head_pose``: commanded head yaw -30..30 deg against the yaw a PnP solve of mediapipe's face
  mesh reads on the render (relative to the frontal render), and the same reading on the
  teacher's renders (the measurement's own floor);
- ``expression``: mouth opening vs jawOpen, eye aspect ratio vs eyeBlink, mouth width vs smile
  (face-camera images, Spearman per seed, mean over seeds); beside them (``arkit``), the same
  units as MediaPipe's FaceLandmarker blendshape model reads them on the same images (the
  tracker of ``aniportrait_hub.tracking``: a reading trained on real faces);
- ``multiview``: depth of a frontal view reprojected into a view 15 deg away, as a share of
  head height.

With ``--pictures`` it writes the figures of the README (seeds, sweeps, a driven video).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.evaluation.metrics import (
    FaceProbe,
    HeadPoseSolver,
    depth_reprojection_error,
    mask_iou,
    psnr,
    relative_yaw_deg,
    ssim,
)

FRONTAL = (math.pi / 2, math.pi / 2)
#: Head height used to express depth errors as a share (world units: chin to crown of the
#: open default body, ~0.23 m).
HEAD_HEIGHT = 0.23


def _img(t: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [0, 1] -> uint8 [H, W, 3]."""
    from aniportrait_hub.pipelines.pipeline import image_uint8

    return image_uint8(t)


def _zeros(pipe):
    return torch.zeros(1, pipe.assets.config.exp_dim), torch.zeros(1, 6, 3)


def _cam(pitch=FRONTAL[0], yaw=FRONTAL[1]):
    return torch.tensor([[pitch, yaw]], dtype=torch.float32)


def _exp(pipe, **units) -> torch.Tensor:
    names = pipe.face_model().exp_names
    e = torch.zeros(1, len(names))
    for k, v in units.items():
        e[0, names.index(k)] = v
    return e


# ----------------------------------------------------------------------------- teacher people
def person_latents(synth, seed: int, index: int, noise_dim: int):
    """The model's latents of the synthesizer's person ``index`` (``synth``: a
    ``SyntheticRenderer`` of ``seed``): its face identity and body shape, eps = the person's
    appearance code (how the default model was taught)."""
    from aniportrait_hub.data.appearance_code import CODE_DIM, encode
    from aniportrait_hub.pipelines.pipeline import PortraitLatents

    p = synth.person(index)
    code = encode(p.look, p.style, np.random.default_rng([seed, index, 7]))
    noise = torch.zeros(1, noise_dim)
    noise[0, :CODE_DIM] = torch.from_numpy(code)
    return PortraitLatents(torch.tensor(p.labels["face_id"], dtype=torch.float32)[None],
                           torch.tensor(p.labels["betas"], dtype=torch.float32)[None], noise)


class Teacher:
    """The synthetic renderer and the people it taught (sample i of seed 0)."""

    def __init__(self, seed: int = 0, res: int = 512):
        from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer

        self.seed = seed
        self.synth = {r: SyntheticRenderer(SynthConfig(seed=seed, res=r, face_res=256)) for r in (128, res)}

    def latents(self, pipe, index: int):
        return person_latents(self.synth[128], self.seed, index, pipe.priors.config.noise_dim)

    def face(self, index: int, labels: dict) -> np.ndarray:
        """Face-camera image [256, 256, 3] uint8 on white of person ``index`` with ``labels``."""
        from aniportrait_hub.data.canonical import FIXED_LIGHT

        _, imgs = self.synth[128].render(index, labels=labels, light=FIXED_LIGHT)
        f = imgs["face"]
        if f.shape[-1] == 4:
            a = f[..., 3:].astype(np.float64) / 255
            f = (f[..., :3] * a + 255 * (1 - a)).round().astype(np.uint8)
        return f

    def render(self, index: int, labels: dict, res: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb on white [H, W, 3] in [0, 1], alpha [H, W]) of person ``index`` with ``labels``."""
        from aniportrait_hub.data.canonical import FIXED_LIGHT

        _, imgs = self.synth[res].render(index, labels=labels, light=FIXED_LIGHT)
        rgba = imgs["rgba"].astype(np.float64) / 255
        a = rgba[..., 3:]
        return rgba[..., :3] * a + (1 - a), a[..., 0]


def held_out_labels(k: int, exp_names: list[str]) -> dict:
    """A label combination drawn with seed 99 (never shown in training): pose, expression, camera."""
    from aniportrait_hub.data.synthesize import SynthConfig, sample_labels

    lab = sample_labels(np.random.default_rng([99, k]), SynthConfig(), exp_names)
    return {key: lab[key] for key in ("expression", "joint_eulers", "camera")}


# ----------------------------------------------------------------------------- measurements
def face_detection(pipe, seeds: int) -> dict:
    found = meshed = 0
    with FaceProbe() as probe:
        for s in tqdm(range(seeds), desc="face detection"):
            out = pipe(seed=1000 + s, truncation_psi=0.7, resolution=512, face_resolution=0, output_type="np")
            r = probe.read((out.images[0] * 255).round().astype(np.uint8))
            found += r.detected
            meshed += r.meshed
    return {"seeds": seeds, "resolution": 512, "psi": 0.7, "face_detection_rate": found / seeds,
            "face_mesh_rate": meshed / seeds}


def control(pipe, teacher: Teacher, identities: list[int], label: str) -> dict:
    rows = []
    names = pipe.face_model().exp_names
    for k, idx in enumerate(tqdm(identities, desc=f"control ({label})")):
        lab = held_out_labels(k, names)
        cache = pipe.bake_identity(teacher.latents(pipe, idx), truncation_psi=1.0)
        row = {"index": idx}
        for res in (128, 512):
            out = pipe.render_frame(cache, torch.tensor(lab["expression"], dtype=torch.float32)[None],
                                    torch.tensor(lab["joint_eulers"], dtype=torch.float32)[None],
                                    torch.tensor([lab["camera"]], dtype=torch.float32), resolution=res)
            gen = out.image[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float64)
            ref, alpha = teacher.render(idx, lab, res)
            row[f"iou_{res}"] = mask_iou(out.mask[0, 0].numpy(), alpha)
            row[f"psnr_{res}"] = psnr(gen, ref)
            row[f"ssim_{res}"] = ssim(gen, ref)
        rows.append(row)
    keys = [k for k in rows[0] if k != "index"]
    return {"identities": len(rows), **{f"mean_{k}": float(np.mean([r[k] for r in rows])) for k in keys},
            "min_iou_512": float(np.min([r["iou_512"] for r in rows])), "rows": rows}


def head_pose(pipe, teacher: Teacher, seeds: int, yaws=(-30, -20, -10, 0, 10, 20, 30)) -> dict:
    solver = HeadPoseSolver()
    fov = pipe.render_settings.portrait_fov_deg
    exp0, eul0 = _zeros(pipe)

    def measure(images: dict[int, np.ndarray], probe) -> dict[int, float]:
        reads = {y: probe.read(im) for y, im in images.items()}
        if not reads[0].meshed:
            return {}
        size = images[0].shape[0]
        guess = solver.solve(reads[0].mesh, size, fov)  # the frontal frame starts the others
        rots = {y: solver.rotation(r.mesh, size, fov, guess) for y, r in reads.items() if r.meshed}
        return {y: relative_yaw_deg(rot, rots[0]) for y, rot in rots.items()}

    gen_err, gen_n, teach_err, sign = [], 0, [], None
    with FaceProbe() as probe:
        # The sign convention of the PnP reading, from the teacher (exact labels).
        for s in tqdm(range(seeds), desc="head pose"):
            idx = s * 10  # taught people 0, 10, 20, ...
            cache = pipe.bake_identity(teacher.latents(pipe, idx), truncation_psi=1.0)
            gen, ref = {}, {}
            for y in yaws:
                eul = eul0.clone()
                eul[0, 3, 1] = math.radians(y)
                out = pipe.render_frame(cache, exp0, eul, _cam(), resolution=512)
                gen[y] = _img(out.image[0])
                lab = {"expression": exp0[0].numpy(), "joint_eulers": eul[0].numpy(), "camera": list(FRONTAL)}
                rgb, _ = teacher.render(idx, lab, 512)
                ref[y] = (rgb * 255).round().astype(np.uint8)
            mt, mg = measure(ref, probe), measure(gen, probe)
            if sign is None and mt.get(yaws[-1]):
                sign = 1.0 if mt[yaws[-1]] > 0 else -1.0
            sg = sign or 1.0
            teach_err += [abs(sg * v - y) for y, v in mt.items() if y != 0]
            gen_err += [abs(sg * v - y) for y, v in mg.items() if y != 0]
            gen_n += len(yaws) - 1
    return {"seeds": seeds, "yaws_deg": list(yaws), "mean_abs_error_deg": float(np.mean(gen_err)) if gen_err else None,
            "measured_share": len(gen_err) / max(gen_n, 1),
            "teacher_mean_abs_error_deg": float(np.mean(teach_err)) if teach_err else None}


EXPRESSION_SWEEPS = {"jawOpen": (("jawOpen",), "mouth_opening"),
                     "eyeBlink": (("eyeBlinkLeft", "eyeBlinkRight"), "eye_aspect_ratio"),
                     "mouthSmile": (("mouthSmileLeft", "mouthSmileRight"), "mouth_width")}


def _sweep_spearman(face_image, probe, vals: np.ndarray, res: dict, tracker=None, arkit: dict | None = None) -> None:
    """Append to ``res[name]`` the Spearman of the face-mesh reading against each unit's value;
    ``face_image(units, value)`` -> a face-camera image [H, W, 3] uint8. With ``tracker`` (a
    :class:`~aniportrait_hub.tracking.BlendshapeTracker`), also append to ``arkit[name]`` the
    (Spearman, reading at 0, reading at 1) of the ARKit blendshape model's own reading of the
    same units on the same images."""
    from scipy.stats import spearmanr

    for name, (units, measure) in EXPRESSION_SWEEPS.items():
        ids = [tracker.exp_names.index(u) for u in units] if tracker is not None else []
        readings, shapes = [], []
        for v in vals:
            img = face_image(units, float(v))
            r = probe.read(img)
            readings.append(getattr(r, measure)() if r.meshed else np.nan)
            if tracker is not None:
                b = tracker.read(img)
                shapes.append(np.nan if b is None else float(b.expression[ids].mean()))
        ok = np.isfinite(readings)
        if ok.sum() >= 3:
            res[name].append(float(spearmanr(vals[ok], np.asarray(readings)[ok]).statistic))
        ok = np.isfinite(shapes)
        if ok.sum() >= 3:  # never with no tracker: shapes is empty
            arkit[name].append((float(spearmanr(vals[ok], np.asarray(shapes)[ok]).statistic), shapes[0], shapes[-1]))


def expression(pipe, seeds: int, steps: int = 6, teacher: Teacher | None = None, teacher_people: int = 4) -> dict:
    """Spearman of face-mesh readings vs jawOpen / blink / smile on new people (``seeds``), and
    the same reading on the teacher's face-camera renders of taught people (is the reading able
    to see it at all?)."""
    from aniportrait_hub.tracking import BlendshapeTracker

    _, eul0 = _zeros(pipe)
    vals = np.linspace(0, 1, steps)
    res = {k: [] for k in EXPRESSION_SWEEPS}
    ref = {k: [] for k in EXPRESSION_SWEEPS}
    arkit = {k: [] for k in EXPRESSION_SWEEPS}
    arkit_ref = {k: [] for k in EXPRESSION_SWEEPS}
    with FaceProbe() as probe, BlendshapeTracker(pipe.face_model().exp_names) as tracker:
        for s in tqdm(range(seeds), desc="expression"):
            cache = pipe.bake_identity(seed=2000 + s, truncation_psi=0.7)
            # The face camera is what is read; the portrait is rendered at the smallest size.
            _sweep_spearman(lambda units, v: _img(pipe.render_frame(
                cache, _exp(pipe, **{u: v for u in units}), eul0, _cam(), resolution=16,
                face_resolution=256, low_res=False).face_image[0]), probe, vals, res, tracker, arkit)
        for k in range(teacher_people if teacher is not None else 0):
            def teacher_face(units, v, idx=10 * k):
                lab = {"expression": _exp(pipe, **{u: v for u in units})[0].numpy(), "camera": list(FRONTAL),
                       "joint_eulers": eul0[0].numpy()}
                return teacher.face(idx, lab)
            _sweep_spearman(teacher_face, probe, vals, ref, tracker, arkit_ref)
    out = {k: {"mean_spearman": float(np.nanmean(v)) if v else None, "seeds_measured": len(v)} for k, v in res.items()}
    for k, v in ref.items():
        out[k]["teacher_mean_spearman"] = float(np.nanmean(v)) if v else None
        out[k]["teacher_people"] = len(v)
    for key, src in (("arkit", arkit), ("teacher_arkit", arkit_ref)):
        for k, v in src.items():
            m = np.nanmean(np.asarray(v, dtype=float), 0).tolist() if v else [None] * 3
            out[k][key] = dict(zip(("mean_spearman", "read_at_0", "read_at_1"), m), measured=len(v))
    return out


def multiview(pipe, seeds: int, yaw_deg: float = 15.0) -> dict:
    from aniportrait_hub.rendering.cameras import portrait_camera

    st = pipe.render_settings
    exp0, eul0 = _zeros(pipe)
    errs, occl = [], []
    for s in range(seeds):
        cache = pipe.bake_identity(seed=3000 + s, truncation_psi=0.7)
        views = []
        for yaw in (FRONTAL[1], FRONTAL[1] + math.radians(yaw_deg)):
            cam = _cam(yaw=yaw)
            out = pipe.render_frame(cache, exp0, eul0, cam, resolution=256)
            views.append((out.depth[0, 0].numpy(), out.mask[0, 0].numpy(),
                          portrait_camera(cam.double(), st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)))
        (da, ma, ca), (db, mb, cb) = views
        r = depth_reprojection_error(da, ma, ca, db, mb, cb)
        errs.append(r["mean"])
        occl.append(r["occluded_share"])
    mean = float(np.nanmean(errs))
    return {"seeds": seeds, "yaw_deg": yaw_deg, "mean_error": mean, "share_of_head_height": mean / HEAD_HEIGHT,
            "occluded_share": float(np.nanmean(occl))}


# ----------------------------------------------------------------------------- pictures
def _grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    out = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        out[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = t
    return out


def pictures(pipe, folder: Path, seeds: int = 16, video_seconds: float = 5.0) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    exp0, eul0 = _zeros(pipe)
    written = []

    def save(name, arr):
        p = folder / name
        Image.fromarray(arr).save(p)
        written.append(p)

    # 1. Seeds, frontal, neutral, 512^2 (shown at 256).
    tiles, caches = [], []
    for s in tqdm(range(seeds), desc="pictures: seeds"):
        cache = pipe.bake_identity(seed=s, truncation_psi=0.7)
        if s < 4:  # reused by the sweeps and the depth picture
            caches.append(cache)
        out = pipe.render_frame(cache, exp0, eul0, _cam(), resolution=512)
        tiles.append(np.asarray(Image.fromarray(_img(out.image[0])).resize((256, 256), Image.LANCZOS)))
    save("default_seeds.png", _grid(tiles, 4 if seeds >= 4 else seeds))
    # 2. Sweeps of one seed: camera yaw, head yaw, head pitch, shoulder shrug, expressions.
    cache = caches[0]
    rows = []
    def strip(frames):
        return np.concatenate([np.asarray(Image.fromarray(_img(f)).resize((192, 192), Image.LANCZOS)) for f in frames], 1)

    angles = np.radians(np.linspace(-30, 30, 7))
    rows.append(strip([pipe.render_frame(cache, exp0, eul0, _cam(yaw=FRONTAL[1] + a), resolution=512).image[0]
                       for a in angles]))
    for j in (1, 2):  # head yaw, head pitch
        fr = []
        for a in angles:
            e = eul0.clone()
            e[0, 3, j] = a
            fr.append(pipe.render_frame(cache, exp0, e, _cam(), resolution=512).image[0])
        rows.append(strip(fr))
    fr = []
    for a in np.linspace(-0.25, 0.25, 7):  # shrug: both collars up / down
        e = eul0.clone()
        e[0, 1, 0], e[0, 2, 0] = a, -a
        fr.append(pipe.render_frame(cache, exp0, e, _cam(), resolution=512).image[0])
    rows.append(strip(fr))
    save("default_sweeps.png", np.concatenate(rows, 0))
    rows = []
    for units in (("jawOpen",), ("mouthSmileLeft", "mouthSmileRight"), ("eyeBlinkLeft", "eyeBlinkRight")):
        rows.append(strip([pipe.render_frame(cache, _exp(pipe, **{u: float(v) for u in units}), eul0, _cam(),
                                             resolution=16, face_resolution=256).face_image[0]
                           for v in np.linspace(0, 1, 7)]))
    save("default_expressions.png", np.concatenate(rows, 0))
    # 3. Depth of the seeds grid's first four.
    tiles = []
    for c in caches:
        out = pipe.render_frame(c, exp0, eul0, _cam(yaw=FRONTAL[1] + 0.35), resolution=256)
        d, m = out.depth[0, 0].numpy(), out.mask[0, 0].numpy()
        fg = m > 0.5
        dv = np.zeros_like(d)
        if fg.any():
            dv[fg] = 1 - (d[fg] - d[fg].min()) / max(np.ptp(d[fg]), 1e-6)
        tiles.append(np.concatenate([_img(out.image[0]), np.repeat((dv * 255).astype(np.uint8)[..., None], 3, -1)], 0))
    save("default_depth.png", _grid(tiles, len(tiles)))
    # 4. A video driven by the real track that ships with the repository.
    written.append(driven_video(pipe, folder / "default_driven.mp4", video_seconds))
    return written


def driven_video(pipe, path: Path, seconds: float, seed: int = 0, resolution: int = 256) -> Path:
    from aniportrait_hub.pipelines.animation import sequence_from_authors_files
    from aniportrait_hub.video import write_video

    track = Path(__file__).resolve().parents[2] / "examples" / "driving" / "real_sample1"
    seq = sequence_from_authors_files(None, track / "joint_eulers.npy", track / "camera_pose.npy", 1, 12.5,
                                      expression_dim=pipe.assets.config.exp_dim)
    n = min(len(seq), int(round(seconds * seq.fps)))
    seq = type(seq)(seq.expression[:n], seq.joint_eulers[:n], seq.camera[:n], seq.fps, seq.expression_basis)
    cache = pipe.bake_identity(seed=seed, truncation_psi=0.7)
    return write_video(path, pipe.animate(cache, seq, resolution=resolution), seq.fps, overwrite=True)


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.evaluation.default_model", "evaluate-default"))
