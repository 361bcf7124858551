"""Track a video (or a photo) into a driving sequence.

    aniportrait track (--video IN.mp4 | --photo IN.jpg) --out S.npz [--authors_dir DIR]
        [--smoothing S] [--max_seconds N] [--expression_source auto|blendshapes|landmarks]
        [--person largest|left|right|N] [--overwrite]

Writes the :class:`~aniportrait_hub.pipelines.animation.DrivingSequence` ``.npz`` that
``aniportrait drive --sequence`` and ``pipe.animate`` take (expression in the
open model's ARKit basis, joint angles and camera per frame, the video's frame rate; a photo gives
one frame: its expression, head and shoulder pose and camera), and with
``--authors_dir`` also the authors' real-track files (``joint_eulers.npy``, ``camera_pose.npy``).
What the tracker noticed (cut, scaled, frames without a face) is printed. Never overwrites
without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aniportrait_hub.commands.common import (
    PERSON_HELP,
    claim_output,
    new_parser,
    person_option,
    run_command,
)


def run(video: Path | None, out: Path, authors_dir: Path | None = None, smoothing: float = 0.3,
        max_seconds: float = 60.0, expression_source: str = "auto", overwrite: bool = False,
        photo: Path | None = None, person: str | int = "largest") -> list[Path]:
    """Track ``video`` (or ``photo``) into ``out`` (and the authors' files in ``authors_dir``);
    the files written."""
    from aniportrait_hub.body import FaceModel
    from aniportrait_hub.pipelines.animation import sequence_to_authors_files
    from aniportrait_hub.tracking import TrackConfig, VideoTracker

    out = claim_output(out, overwrite, ".npz")
    names = list(FaceModel.from_open_default().exp_names)
    cfg = TrackConfig(smoothing=smoothing, max_seconds=max_seconds, expression_source=expression_source, person=person)
    if (video is None) == (photo is None):
        raise ValueError("track one video (--video) or one photo (--photo)")
    image = None
    if photo is not None:
        from aniportrait_hub.data.detect import SkipImage, load_photo

        try:
            image = load_photo(photo)
        except SkipImage as e:
            raise ValueError(f"{photo}: {e}") from e
    with VideoTracker(names, cfg) as tracker:
        res = tracker.track_video(video) if image is None else tracker.track_photo(image)
    for m in res.messages:
        print(f"note: {m}", file=sys.stderr)
    written = []
    if authors_dir is not None:  # refused before the .npz is written if the files exist
        written += sequence_to_authors_files(res.sequence, authors_dir, overwrite=overwrite)
    res.sequence.save(out)
    return [out, *written]


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path,
                   help='a video to track (mp4, mov, webm, ...)')
    src.add_argument("--photo", type=Path, help="one photo: a one-frame sequence (its pose and expression)")
    p.add_argument("--out", type=Path, required=True, help="the driving sequence .npz to write")
    p.add_argument("--authors_dir", type=Path, help="also write the authors' .npy real-track files here")
    p.add_argument("--smoothing", type=float, default=0.3, help="Savitzky-Golay strength in [0, 1]")
    p.add_argument("--max_seconds", type=float, default=60.0,
                   help='refuse longer videos (seconds)')
    p.add_argument("--expression_source", default="auto", choices=["auto", "blendshapes", "landmarks"],
                   help="blendshapes (MediaPipe's ARKit scores), landmarks (the label fit's units), or auto: blendshapes when the model's basis holds those units")
    p.add_argument("--person", type=person_option, default="largest", help=PERSON_HELP)
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out (and --authors_dir's files) if they exist")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    from aniportrait_hub.tracking import INPUT_ERRORS

    return run_command(lambda: "wrote " + ", ".join(str(x) for x in run(**vars(a))), INPUT_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
