"""Track a video into a driving sequence.

    python -m aniportrait_hub.track --video IN.mp4 --out S.npz [--authors_dir DIR] [--smoothing S]
        [--max_seconds N] [--expression_source auto|blendshapes|landmarks] [--overwrite]

Writes the :class:`~aniportrait_hub.pipelines.animation.DrivingSequence` ``.npz`` that
``python -m aniportrait_hub.drive --sequence`` and ``pipe.animate`` take (expression in the
open model's ARKit basis, joint angles and camera per frame, the video's frame rate), and with
``--authors_dir`` also the authors' real-track files (``joint_eulers.npy``, ``camera_pose.npy``).
What the tracker noticed (cut, scaled, frames without a face) is printed. Never overwrites
without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aniportrait_hub.cli import claim_output, run_command


def run(video: Path, out: Path, authors_dir: Path | None = None, smoothing: float = 0.3, max_seconds: float = 60.0,
        expression_source: str = "auto", overwrite: bool = False) -> list[Path]:
    """Track ``video`` into ``out`` (and the authors' files in ``authors_dir``); the files written."""
    from aniportrait_hub.body import FaceModel
    from aniportrait_hub.pipelines.animation import sequence_to_authors_files
    from aniportrait_hub.tracking import TrackConfig, VideoTracker

    out = claim_output(out, overwrite, ".npz")
    names = list(FaceModel.from_open_default().exp_names)
    cfg = TrackConfig(smoothing=smoothing, max_seconds=max_seconds, expression_source=expression_source)
    with VideoTracker(names, cfg) as tracker:
        res = tracker.track_video(video)
    for m in res.messages:
        print(f"note: {m}", file=sys.stderr)
    written = []
    if authors_dir is not None:  # refused before the .npz is written if the files exist
        written += sequence_to_authors_files(res.sequence, authors_dir, overwrite=overwrite)
    res.sequence.save(out)
    return [out, *written]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="the driving sequence .npz to write")
    p.add_argument("--authors_dir", type=Path, help="also write the authors' .npy real-track files here")
    p.add_argument("--smoothing", type=float, default=0.3, help="Savitzky-Golay strength in [0, 1]")
    p.add_argument("--max_seconds", type=float, default=60.0)
    p.add_argument("--expression_source", default="auto", choices=["auto", "blendshapes", "landmarks"])
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    from aniportrait_hub.tracking import INPUT_ERRORS

    return run_command(lambda: "wrote " + ", ".join(str(x) for x in run(**vars(a))), INPUT_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
