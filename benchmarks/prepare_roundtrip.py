"""Round trip of real-photo preparation on synthetic renders (issue: datasets).

``python benchmarks/prepare_roundtrip.py [--n 150] [--res 512]`` renders the first ``n``
held-out synthetic samples (identities never in training: index % 10 == 9, seed 0), saves the
portraits as plain RGB photos on white, prepares that folder exactly as real photos
(:mod:`aniportrait_hub.data.prepare`: detection, fitting, crops) and compares the fitted
labels with the exact ones:

- head rotation seen from the camera (what a face tracker measures) and relative to the torso
  (the joint labels: neck and head composed), roll / yaw / pitch, mean absolute error (deg);
- camera pitch / yaw; collar and shoulder z angles; each against the "always predict the prior
  mean" baseline and as a correlation;
- expression units: correlation and mean absolute error;
- detection rate (portraits: prepared or not; face-camera images: face mesh found) and
  preparation seconds per photo.

Writes ``benchmarks/results/prepare_roundtrip.json`` and ``docs/prepare_roundtrip.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from aniportrait_hub.data import synthesize
from aniportrait_hub.data.fit import LabelFitter, head_orientations
from aniportrait_hub.data.format import open_dataset
from aniportrait_hub.data.prepare import PrepareConfig, Preparer

ROOT = Path(__file__).resolve().parents[1]
UNITS = (("jawOpen",), ("eyeBlinkLeft", "eyeBlinkRight"), ("mouthSmileLeft", "mouthSmileRight"), ("browInnerUp",),
         ("mouthPucker",), ("eyeWideLeft", "eyeWideRight"), ("browDownLeft", "browDownRight"))


def _deg_mae(a, b):
    return np.degrees(np.abs(np.asarray(a) - np.asarray(b))).mean(0)


def _corr(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=150)
    p.add_argument("--res", type=int, default=512)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "prepare_roundtrip.json")
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "prepare_roundtrip.png")
    args = p.parse_args()
    from PIL import Image

    cfg = synthesize.SynthConfig(res=args.res)
    indices = [10 * k + 9 for k in range(args.n)]
    truth = {}
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        t0 = time.perf_counter()
        import mediapipe as mp

        face_found = 0
        with get_context("spawn").Pool(2, initializer=synthesize._init_worker, initargs=(cfg,)) as pool, \
                mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as fm:
            for rec, imgs in pool.imap(synthesize._render, indices):
                a = imgs["rgba"][..., 3:] / 255.0
                rgb = (imgs["rgba"][..., :3] * a + 255 * (1 - a)).round().astype(np.uint8)
                Image.fromarray(rgb).save(photos / f"{rec.name}.png")
                truth[rec.name] = rec
                face_found += fm.process(np.ascontiguousarray(imgs["face"])).multi_face_landmarks is not None
        render_s = time.perf_counter() - t0
        report = Preparer(PrepareConfig(images=photos, out=Path(tmp) / "prepared", res=args.res,
                                        face_res=args.res // 2)).run()
        ds = open_dataset(Path(tmp) / "prepared")
    fitted = {r.name: r for r in ds.records}
    names = sorted(fitted)
    t = {k: np.array([getattr(truth[n], k) for n in names]) for k in ("joint_eulers", "camera", "expression")}
    f = {k: np.array([getattr(fitted[n], k) for n in names]) for k in ("joint_eulers", "camera", "expression")}
    fitter = LabelFitter()
    torso_t, cam_t = head_orientations(fitter.body, t["joint_eulers"], t["camera"])
    torso_f, cam_f = head_orientations(fitter.body, f["joint_eulers"], f["camera"])
    res = {
        "n_photos": args.n, "resolution": args.res, "prepared": len(names),
        "face_mesh_found_in_face_camera_images": f"{face_found}/{args.n}",
        "skipped": report["skipped"],
        "prepare_seconds_per_photo": report["seconds_per_photo"],
        "render_seconds_per_photo": round(render_s / args.n, 3),
        "head_in_camera_mae_deg": dict(zip(("roll", "yaw", "pitch"), _deg_mae(cam_t, cam_f).round(2).tolist())),
        "head_rel_torso_mae_deg": dict(zip(("roll", "yaw", "pitch"), _deg_mae(torso_t, torso_f).round(2).tolist())),
        "head_rel_torso_prior_mean_baseline_deg": dict(zip(("roll", "yaw", "pitch"),
                                                           _deg_mae(torso_t, 0 * torso_t).round(2).tolist())),
        "camera_mae_deg": dict(zip(("pitch", "yaw"), _deg_mae(t["camera"], f["camera"]).round(2).tolist())),
        "camera_frontal_baseline_deg": dict(zip(("pitch", "yaw"),
                                                _deg_mae(t["camera"], np.full_like(t["camera"], math.pi / 2)).round(2).tolist())),
        "shoulders": {}, "expression": {},
    }
    for j, name in ((1, "left_collar"), (2, "right_collar"), (4, "left_shoulder"), (5, "right_shoulder")):
        a, b = t["joint_eulers"][:, j, 0], f["joint_eulers"][:, j, 0]
        res["shoulders"][name] = {"mae_deg": round(float(_deg_mae(a, b)), 2),
                                  "zero_baseline_deg": round(float(_deg_mae(a, 0 * a)), 2), "r": round(_corr(a, b), 3)}
    exp_names = fitter.face.exp_names
    for units in UNITS:
        ids = [exp_names.index(u) for u in units]
        a, b = t["expression"][:, ids], f["expression"][:, ids]
        res["expression"][units[0].replace("Left", "")] = {
            "r": round(_corr(a, b), 3), "mae": round(float(np.abs(a - b).mean()), 3),
            "n_active": int((a > 0).any(1).sum())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    _plot(args.plot, cam_t, cam_f, torso_t, torso_f, t, f, exp_names)


def _plot(path: Path, cam_t, cam_f, torso_t, torso_f, t, f, exp_names) -> None:
    from PIL import Image, ImageDraw

    panels = [("head yaw, camera frame (deg)", np.degrees(cam_t[:, 1]), np.degrees(cam_f[:, 1]), 40),
              ("head pitch, camera frame (deg)", np.degrees(cam_t[:, 2]), np.degrees(cam_f[:, 2]), 30),
              ("head yaw, rel. torso (deg)", np.degrees(torso_t[:, 1]), np.degrees(torso_f[:, 1]), 40),
              ("camera yaw - 90 (deg)", np.degrees(t["camera"][:, 1] - math.pi / 2),
               np.degrees(f["camera"][:, 1] - math.pi / 2), 30),
              ("jawOpen", t["expression"][:, exp_names.index("jawOpen")],
               f["expression"][:, exp_names.index("jawOpen")], 1),
              ("eyeBlinkLeft", t["expression"][:, exp_names.index("eyeBlinkLeft")],
               f["expression"][:, exp_names.index("eyeBlinkLeft")], 1)]
    size, pad = 260, 30
    sheet = Image.new("RGB", (3 * size, 2 * size), "white")
    for k, (title, a, b, lim) in enumerate(panels):
        lo = -lim if lim != 1 else 0
        panel = Image.new("RGB", (size, size), "white")
        d = ImageDraw.Draw(panel)
        span = size - 2 * pad
        to_px = lambda v: pad + (np.clip(v, lo, lim) - lo) / (lim - lo) * span
        d.rectangle((pad, pad, size - pad, size - pad), outline=(160, 160, 160))
        d.line((pad, size - pad, size - pad, pad), fill=(200, 200, 200))
        for x, y in zip(a, b):
            px, py = to_px(x), size - to_px(y)
            d.ellipse((px - 2, py - 2, px + 2, py + 2), fill=(30, 90, 200))
        d.text((pad, 8), f"{title}  r={_corr(a, b):.2f}", fill=(0, 0, 0))
        d.text((pad, size - pad + 6), f"true ({lo}..{lim})", fill=(90, 90, 90))
        sheet.paste(panel, ((k % 3) * size, (k // 3) * size))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


if __name__ == "__main__":
    main()
