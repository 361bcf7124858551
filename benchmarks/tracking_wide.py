"""Benchmark: tracking faces that are small in wide frames (issue 30), speed before and after.

``python benchmarks/tracking_wide.py [--before REV] [--repeats 2] [--out benchmarks/results/tracking_wide.json]``

The clips are the shipped one (examples/driving/synthetic_talk.mp4, a held-out synthetic person
talking and turning, 256^2), played forwards then backwards to 5 s at 25 fps, and put in frames:

- ``480p``: scaled to 480^2 in an 854 x 480 frame (the framing of ``benchmarks/tracking.py``);
- ``1080p_large``: scaled to 1080^2 in a 1920 x 1080 frame (a close-up);
- ``1080p_small`` / ``720p_small``: the face at 8% of the frame's width, in grey.

Each is written as an H.264 mp4, and ``VideoTracker.track_video`` (decoding, MediaPipe and the
fit) is timed in a fresh interpreter, for the code at ``--before`` (a git worktree of that
revision) and for this checkout, alternating, ``--repeats`` times each: the best of each goes to
the JSON (frames per second; ``null`` where the tracker refused the clip, with its message).

Then the smallest face that tracks: the clip (its first 2 s) with the face at shrinking shares of
a 1280 x 720 and a 1920 x 1080 frame, tracked from memory by this checkout; a size "tracks" when
every frame has a face and the head angles (seen from the camera) stay within 3 deg, and jawOpen
within 0.1, of the clip itself on average; the smallest face is the smallest size down to which
every size tracks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import save_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "driving" / "synthetic_talk.mp4"

#: Run in a fresh interpreter against the code on its PYTHONPATH: one clip tracked, timed.
TIMER = """
import json, sys, time
from aniportrait_hub.body import FaceModel
from aniportrait_hub.tracking import VideoTracker, TrackingError
names = list(FaceModel.from_open_default().exp_names)
with VideoTracker(names) as tr:
    t0 = time.perf_counter()
    try:
        res = tr.track_video(sys.argv[1])
        out = {"seconds": time.perf_counter() - t0, "frames": len(res.sequence), "found": float(res.found.mean())}
    except TrackingError as e:
        out = {"error": str(e)}
print("RESULT " + json.dumps(out))
"""


def _frames(clip: list[np.ndarray], size: tuple[int, int], side: int, fill: int = 128) -> list[np.ndarray]:
    """The clip scaled to ``side`` and centred in frames of ``size`` (W, H)."""
    import cv2

    w, h = size
    out = []
    for f in clip:
        g = cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC if side > f.shape[0] else cv2.INTER_AREA)
        frame = np.full((h, w, 3), fill, np.uint8)
        y, x = (h - side) // 2, (w - side) // 2
        frame[max(y, 0):max(y, 0) + min(side, h), max(x, 0):max(x, 0) + min(side, w)] = \
            g[max(-y, 0):max(-y, 0) + min(side, h), max(-x, 0):max(-x, 0) + min(side, w)]
        out.append(frame)
    return out


def _side_for(clip: list[np.ndarray], size: tuple[int, int], share: float) -> int:
    """The clip's side that puts its face at ``share`` of the frame's width (the full-range
    detector's box, corrected once: the box does not grow quite in proportion)."""
    from aniportrait_hub.tracking.follow import FaceFinder

    with FaceFinder() as finder:
        side = clip[0].shape[0] * share * size[0] / finder.find(clip[0])[0].width
        found = finder.find(_frames(clip[:1], size, round(side))[0])
        if found:
            side *= share * size[0] / found[0].width
    return round(side)


def _time(code_root: Path, clip: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_root), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", TIMER, str(clip)], capture_output=True, text=True, env=env,
                         cwd=code_root)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"the timer failed:\n{run.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def _seen(body, seq) -> np.ndarray:
    from aniportrait_hub.data.fit import head_orientations

    return np.degrees(head_orientations(body, seq.joint_eulers.numpy(), seq.camera.numpy())[1])


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.video import read_video

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default="c1c2a6f", help="the git revision timed as 'before'")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--shares", type=float, nargs="+", default=[0.08, 0.06, 0.05, 0.04, 0.03, 0.025, 0.02, 0.015, 0.01])
    p.add_argument("--parts", nargs="+", choices=["speed", "smallest"], default=["speed", "smallest"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tracking_wide.json")
    a = p.parse_args(argv)
    clip = list(read_video(CLIP)[1])
    loop = (clip + clip[::-1])[:125]  # 5 s at 25 fps
    res = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
           "before": a.before, "after": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                        capture_output=True, text=True).stdout.strip(),
           "tracker": "VideoTracker defaults (TrackConfig())", "speed": {}, "smallest_face": {}}
    with tempfile.TemporaryDirectory() as tmp:
        if "speed" in a.parts:
            _speed(a, clip, loop, Path(tmp), res)
    if "smallest" in a.parts:
        _smallest(a, clip, res)
    save_results(a.out, res)
    return 0


def _speed(a, clip: list[np.ndarray], loop: list[np.ndarray], tmp: Path, res: dict) -> None:
    """``track_video`` frames per second on each clip, before and after."""
    from aniportrait_hub.video import write_video

    old = tmp / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), a.before], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        clips = {"480p": ((854, 480), 480), "1080p_large": ((1920, 1080), 1080),
                 "1080p_small": ((1920, 1080), _side_for(clip, (1920, 1080), 0.08)),
                 "720p_small": ((1280, 720), _side_for(clip, (1280, 720), 0.08))}
        for name, (size, side) in clips.items():
            path = write_video(tmp / f"{name}.mp4", _frames(loop, size, side), 25.0)
            runs = {"before": [], "after": []}
            for _ in range(a.repeats):
                for key, root in (("before", old), ("after", ROOT)):
                    runs[key].append(_time(root, path))
            entry = {"size": list(size), "frames": len(loop)}
            for key, rs in runs.items():
                ok = [r for r in rs if "seconds" in r]
                entry[f"{key}_fps"] = max(r["frames"] / r["seconds"] for r in ok) if ok else None
                entry[f"{key}_found"] = ok[0]["found"] if ok else 0.0
                if not ok:
                    entry[f"{key}_error"] = rs[0]["error"]
            res["speed"][name] = entry
            print(name, json.dumps(entry), flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)


def _smallest(a, clip: list[np.ndarray], res: dict) -> None:
    """The smallest face that tracks, at 720p and 1080p."""
    from aniportrait_hub.body import BodyModel, FaceModel
    from aniportrait_hub.tracking import TrackConfig, VideoTracker

    names = list(FaceModel.from_open_default().exp_names)
    jaw = names.index("jawOpen")
    body = BodyModel.from_open_default()
    short = clip[:25]
    with VideoTracker(names) as tr:
        plain = tr.track_frames(short, 12.5).sequence
    for size in ((1280, 720), (1920, 1080)):
        rows = []
        for share in a.shares:
            side = _side_for(short, size, share) if share >= 0.03 else round(
                _side_for(short, size, 0.03) * share / 0.03)  # below the detector's reach: scaled on
            with VideoTracker(names, TrackConfig()) as tr:
                try:
                    r = tr.track_frames(_frames(short, size, side), 12.5)
                except Exception as e:  # noqa: BLE001 (a refusal is the measurement)
                    rows.append({"share": share, "face_px": round(share * size[0]), "tracks": False, "error": str(e)})
                    print(size, rows[-1], flush=True)
                    continue
            angles = np.abs(_seen(body, r.sequence) - _seen(body, plain)).mean(0)
            jaw_err = float((r.sequence.expression[:, jaw] - plain.expression[:, jaw]).abs().mean())
            ok = bool(r.found.all() and (angles < 3.0).all() and jaw_err < 0.1)
            rows.append({"share": share, "face_px": round(share * size[0]), "found": float(r.found.mean()),
                         "angle_diff_deg": angles.round(2).tolist(), "jawOpen_diff": round(jaw_err, 3), "tracks": ok})
            print(size, rows[-1], flush=True)
        # the smallest size down to which every size tracks
        smallest = None
        for r in sorted(rows, key=lambda r: -r["share"]):
            if not r["tracks"]:
                break
            smallest = r
        res["smallest_face"][f"{size[1]}p"] = {
            "rows": rows, "smallest_share": smallest and smallest["share"], "smallest_px": smallest and smallest["face_px"]}


if __name__ == "__main__":
    raise SystemExit(main())
