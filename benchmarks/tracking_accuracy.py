"""Tracking accuracy on synthetic clips with known per-frame labels (issue: video driving).

``python benchmarks/tracking_accuracy.py [--clips 10] [--seconds 5] [--out benchmarks/results/tracking_accuracy.json]``
``python benchmarks/tracking_accuracy.py --example examples/driving/synthetic_talk`` (the shipped clip)

Each clip is one held-out person of the synthetic builder (sample 9 + 10 k of seed 0, never a
teacher identity) talking and turning: head roll / yaw / pitch as sums of two sinusoids
(amplitudes 8 / 25 / 12 deg), collar and shoulder shrugs (+-8 deg), jawOpen in syllable-like
pulses, blinks every ~2 s, a slow smile and brow raise, and four more units drawn per clip; the
camera stays frontal. Frames are
rendered by the synthetic renderer at 320^2 and tracked by :class:`~aniportrait_hub.tracking.VideoTracker`
from memory (no video compression). Reported, per clip and overall:

- head roll / yaw / pitch error seen from the camera (deg; the identifiable quantity: a camera
  turn and a head turn the other way look alike), collar and shoulder angle errors (deg);
- jawOpen mean absolute error, and blinks detected (a labelled blink whose tracked eyeBlink mean
  exceeds 0.4 within one frame) with the false detections, for the blendshape path and the
  landmark-fit path;
- per-unit Pearson correlation of the 10 most active units, both paths;
- jitter on a still clip (the same person, neutral and unmoving): mean frame-to-frame change of
  the head angles (deg) and of the expression, without and with smoothing 0.5;
- a real face: skimage's astronaut photo under known image rotations and zooms, the tracked
  roll against the rotation (:func:`astronaut_roll`).

The clips and their labels come from :mod:`aniportrait_hub.evaluation.tracking`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from aniportrait_hub.data.fit import head_orientations
from aniportrait_hub.evaluation.tracking import blink_scores, clip_labels, render_clip, rotated_clip

sys.path.insert(0, str(Path(__file__).parent))
from timing import save_results  # noqa: E402


def astronaut_roll(tracker, body, fps: float) -> dict:
    """skimage's astronaut photo rotated by 15 deg * sin(pi t) and zoomed by 1 + 0.15 sin(...)
    over 2 s: the tracked head roll (seen from the camera, relative to the first frame) against
    the rotation, and how steady the expression reading stays."""
    from skimage import data

    n = int(round(2 * fps))
    t = np.arange(n) / fps
    angles = 15 * np.sin(math.pi * t)
    zooms = 1 + 0.15 * np.sin(2 * math.pi * t / 1.3)
    res = tracker.track_frames(rotated_clip(data.astronaut(), angles, zooms, (250, 150)), fps)
    _, cam = head_orientations(body, res.sequence.joint_eulers.numpy(), res.sequence.camera.numpy())
    roll = np.degrees(cam[:, 0] - cam[0, 0])
    e = res.sequence.expression.numpy()
    top = np.argsort(-e.mean(0))[:3]
    names = tracker.exp_names
    return {"frames": n, "faces_found": float(res.found.mean()), "roll_slope": float(np.polyfit(angles, roll, 1)[0]),
            "roll_error_deg": float(np.abs(roll - angles).mean()),
            "strongest_units": {names[i]: {"mean": float(e[:, i].mean()), "std": float(e[:, i].std())} for i in top}}


def write_example(stem: Path, seconds: float, fps: float, res: int) -> int:
    """Clip 0 (held-out person 9) as ``stem``.mp4 and its labels as ``stem``_labels.npz."""
    import torch

    from aniportrait_hub.body import FaceModel
    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
    from aniportrait_hub.pipelines.animation import DrivingSequence
    from aniportrait_hub.video import write_video

    names = list(FaceModel.from_open_default().exp_names)
    lab = clip_labels(0, int(round(seconds * fps)), fps, names)
    frames = render_clip(SyntheticRenderer(SynthConfig(seed=0, res=res)), 9, lab)
    stem.parent.mkdir(parents=True, exist_ok=True)
    video = write_video(stem.with_suffix(".mp4"), frames, fps)
    labels = stem.with_name(stem.name + "_labels.npz")
    DrivingSequence(*(torch.from_numpy(lab[k]).float() for k in ("expression", "joint_eulers", "camera")), fps,
                    "arkit52").save(labels)
    print(f"wrote {video}, {labels}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.body import BodyModel, FaceModel
    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
    from aniportrait_hub.tracking import VideoTracker

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--fps", type=float, default=12.5)
    p.add_argument("--res", type=int, default=320)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/tracking_accuracy.json"))
    p.add_argument("--example", type=Path, default=None,
                   help="only write clip 0 here as NAME.mp4 with its labels NAME_labels.npz (a DrivingSequence), "
                        "e.g. examples/driving/synthetic_talk")
    a = p.parse_args(argv)
    if a.example is not None:
        return write_example(a.example, a.seconds, a.fps, 256)
    face = FaceModel.from_open_default()
    body = BodyModel.from_open_default()
    names = list(face.exp_names)
    renderer = SyntheticRenderer(SynthConfig(seed=0, res=a.res))
    n = int(round(a.seconds * a.fps))
    per_clip, all_true, all_blend, all_lm = [], [], [], []
    t_render = t_track = 0.0
    with VideoTracker(names) as tracker:
        for k in range(a.clips):
            index = 9 + 10 * k
            lab = clip_labels(k, n, a.fps, names)
            t0 = time.perf_counter()
            frames = render_clip(renderer, index, lab)
            t_render += time.perf_counter() - t0
            t0 = time.perf_counter()
            res = tracker.track_frames(frames, a.fps)
            t_track += time.perf_counter() - t0
            seq = res.sequence
            _, true_cam = head_orientations(body, lab["joint_eulers"], lab["camera"])
            _, got_cam = head_orientations(body, seq.joint_eulers.numpy(), seq.camera.numpy())
            err = np.degrees(np.abs(got_cam - true_cam)).mean(0)  # roll, yaw, pitch
            sh = [1, 2, 4, 5]
            sh_err = np.degrees(np.abs(seq.joint_eulers.numpy()[:, sh, 0] - lab["joint_eulers"][:, sh, 0])).mean(0)
            blend, lm = seq.expression.numpy(), res.landmark_expression
            ix = names.index
            blink_t = lab["expression"][:, [ix("eyeBlinkLeft"), ix("eyeBlinkRight")]].mean(1)
            row = {"person": index, "faces_found": float(res.found.mean()),
                   "head_error_deg": dict(zip(("roll", "yaw", "pitch"), err.round(2).tolist())),
                   "collar_error_deg": float(sh_err[:2].mean()), "shoulder_error_deg": float(sh_err[2:].mean())}
            for path, e in (("blendshapes", blend), ("landmarks", lm)):
                got_blink = e[:, [ix("eyeBlinkLeft"), ix("eyeBlinkRight")]].mean(1)
                row[path] = {"jawOpen_mae": float(np.abs(e[:, ix("jawOpen")] - lab["expression"][:, ix("jawOpen")]).mean()),
                             "blinks": dict(zip(("labelled", "detected", "false"), blink_scores(blink_t, got_blink)))}
            per_clip.append(row)
            all_true.append(lab["expression"])
            all_blend.append(blend)
            all_lm.append(lm)
            print(json.dumps(row), flush=True)
        # jitter on a still clip of the first person
        still = clip_labels(0, n, a.fps, names, still=True)
        frames = render_clip(renderer, 9, still)
        jitter = {}
        for strength in (0.0, 0.5):
            tracker.cfg.smoothing = strength
            seq = tracker.track_frames(frames, a.fps).sequence
            _, cam_o = head_orientations(body, seq.joint_eulers.numpy(), seq.camera.numpy())
            jitter[f"smoothing_{strength}"] = {
                "head_deg_per_frame": float(np.degrees(np.abs(np.diff(cam_o, axis=0))).mean()),
                "expression_per_frame": float(np.abs(np.diff(seq.expression.numpy(), axis=0)).mean())}
        tracker.cfg.smoothing = 0.0
        astronaut = astronaut_roll(tracker, body, a.fps)
        print("astronaut", json.dumps(astronaut), flush=True)
    true, blend, lm = (np.concatenate(x) for x in (all_true, all_blend, all_lm))
    active = np.argsort(-true.std(0))[:10]

    def corr(x, y):
        return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")

    summary = {
        "head_error_deg": {k: float(np.mean([r["head_error_deg"][k] for r in per_clip])) for k in ("roll", "yaw", "pitch")},
        "collar_error_deg": float(np.mean([r["collar_error_deg"] for r in per_clip])),
        "shoulder_error_deg": float(np.mean([r["shoulder_error_deg"] for r in per_clip])),
        "faces_found": float(np.mean([r["faces_found"] for r in per_clip])),
    }
    for path, e in (("blendshapes", blend), ("landmarks", lm)):
        b = np.array([[r[path]["blinks"][k] for k in ("labelled", "detected", "false")] for r in per_clip]).sum(0)
        summary[path] = {
            "jawOpen_mae": float(np.mean([r[path]["jawOpen_mae"] for r in per_clip])),
            "blinks_labelled": int(b[0]), "blinks_detected": int(b[1]), "false_blinks": int(b[2]),
            "unit_correlation": {names[u]: corr(true[:, u], e[:, u]) for u in active}}
    out = {"clips": a.clips, "seconds": a.seconds, "fps": a.fps, "resolution": a.res, "summary": summary,
           "jitter_still_clip": jitter, "real_face_rotated": astronaut, "per_clip": per_clip,
           "time_s": {"render": t_render, "track": t_track, "track_fps": a.clips * n / t_track}}
    print(json.dumps({k: out[k] for k in ("summary", "jitter_still_clip", "real_face_rotated", "time_s")}, indent=1))
    save_results(a.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
