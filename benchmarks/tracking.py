"""Benchmark: tracking a 480p driving video into a driving sequence, and driving the default
model with it (issue: video driving).

``python benchmarks/tracking.py [--seconds 5] [--out benchmarks/results/tracking.json]``

The clip: the default model (seed 3) turning its head (yaw 20 deg * sin(pi t)) and opening its
mouth, rendered at 480^2 and padded to 854 x 480 (a 480p frame), 25 fps. Measured:
``observe`` (MediaPipe FaceLandmarker on every frame, the pose model on the frames the tracker
reads it on), ``fit`` (the label fit alone: a cold first frame, then warm-started chunks), the
whole ``track_video`` call on the 5 s clip and on a 20 s one (the clip played forwards and
backwards twice: the first frame's cold fit is spread over more frames), and driving at 256^2
and 512^2 (:func:`aniportrait_hub.commands.drive.run`), each as frames per second; plus the head errors
against the rendered labels (seen from the camera) and the jawOpen agreement.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import save_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub import AniPortraitGAN
    from aniportrait_hub.commands.drive import DriveConfig, run
    from aniportrait_hub.data.fit import head_orientations
    from aniportrait_hub.pretrained import DEFAULT_MODEL
    from aniportrait_hub.tracking import TrackConfig, VideoTracker
    from aniportrait_hub.tracking.chunked_fit import _held
    from aniportrait_hub.video import read_video, write_video

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/tracking.json"))
    a = p.parse_args(argv)
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    names = pipe.face_model().exp_names
    n = int(round(a.seconds * a.fps))
    t = np.arange(n) / a.fps
    eul = torch.zeros(n, 6, 3)
    eul[:, 3, 1] = torch.tensor(0.35 * np.sin(math.pi * t), dtype=torch.float32)
    exp = torch.zeros(n, len(names))
    jaw = names.index("jawOpen")
    exp[:, jaw] = torch.tensor(np.clip(np.sin(2 * math.pi * t), 0, 1), dtype=torch.float32)
    cam = torch.full((n, 2), math.pi / 2)
    cache = pipe.bake_identity(seed=3)
    res = {"machine": {"cpu_count": __import__("os").cpu_count(), "torch_threads": torch.get_num_threads(),
                       "platform": platform.platform(), "torch": torch.__version__},
           "clip": {"frames": n, "fps": a.fps, "size": [854, 480]},
           "tracker": dataclasses.asdict(TrackConfig())}
    with tempfile.TemporaryDirectory() as tmp:
        frames = []
        with torch.no_grad():
            for i in range(n):
                img = pipe.render_frame(cache, exp[i:i + 1], eul[i:i + 1], cam[i:i + 1], resolution=480,
                                        low_res=False).image[0]
                f = np.full((480, 854, 3), 255, np.uint8)
                f[:, 187:667] = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
                frames.append(f)
        clip = write_video(Path(tmp) / "clip.mp4", frames, a.fps)
        long_clip = write_video(Path(tmp) / "long.mp4", (frames + frames[::-1]) * 2, a.fps)
        with VideoTracker(names) as tr:
            every = max(1, round(a.fps / tr.cfg.pose_rate))
            t0 = time.perf_counter()
            info, it = read_video(clip, max_side=tr.cfg.max_side)
            obs = [tr.observe(f, round(1000 * i / info.fps), pose=i % every == 0) for i, f in enumerate(it)]
            t_obs = time.perf_counter() - t0
            face, sh, rot, blend = _held(obs)  # what the tracker fits: shoulders interpolated between readings
            t0 = time.perf_counter()
            tr.fit(face, sh, np.stack(rot), np.stack(blend))
            t_fit = time.perf_counter() - t0
        with VideoTracker(names) as tr:
            t0 = time.perf_counter()
            tracked = tr.track_video(clip)
            t_track = time.perf_counter() - t0
        with VideoTracker(names) as tr:
            t0 = time.perf_counter()
            tr.track_video(long_clip)
            t_long = time.perf_counter() - t0
        seq = tracked.sequence
        body = pipe.renderer().body
        _, true = head_orientations(body, eul.numpy(), cam.numpy())
        _, got = head_orientations(body, seq.joint_eulers.numpy(), seq.camera.numpy())
        res["tracking"] = {
            "observe_fps": n / t_obs, "fit_fps": n / t_fit, "track_video_fps": n / t_track,
            "track_video_s": t_track, "track_video_fps_20s": 4 * n / t_long, "faces_found": float(tracked.found.mean()),
            "head_yaw_error_deg": float(np.degrees(np.abs(got[:, 1] - true[:, 1])).mean()),
            "head_pitch_error_deg": float(np.degrees(np.abs(got[:, 2] - true[:, 2])).mean()),
            "head_roll_error_deg": float(np.degrees(np.abs(got[:, 0] - true[:, 0])).mean()),
            "jawOpen_correlation": float(np.corrcoef(seq.expression[:, jaw].numpy(), exp[:, jaw].numpy())[0, 1]),
            "jawOpen_mean_abs_error": float((seq.expression[:, jaw] - exp[:, jaw]).abs().mean()),
        }
        print("tracking", json.dumps(res["tracking"]), flush=True)
        seq_path = Path(tmp) / "seq.npz"
        seq.save(seq_path)
        res["driving"] = {}
        for side in (256, 512):
            t0 = time.perf_counter()
            run(DriveConfig(out=Path(tmp) / f"drive{side}.mp4", sequence=seq_path, resolution=side, seed=5))
            res["driving"][f"fps_{side}"] = n / (time.perf_counter() - t0)
        print("driving", json.dumps(res["driving"]), flush=True)
    save_results(a.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
