"""Drive a portrait with a real video, a driving sequence or the authors' files.

    aniportrait drive --video IN.mp4 --out OUT.mp4 [--seed N] [--model PATH_OR_ID]
        [--relative] [--smoothing S] [--multiplier M] [--neutral_frames N] [--side_by_side]
        [--depth] [--max_seconds N] [--resolution R] [--save_sequence S.npz]
        [--person largest|left|right|N] [--overwrite]
    aniportrait drive --sequence S.npz --out OUT.mp4
    aniportrait drive --authors examples/driving/real_sample1 --out OUT.mp4

A video is tracked first (:class:`~aniportrait_hub.tracking.VideoTracker`: expression, head
and shoulder joints, camera per frame), then retargeted (:func:`~aniportrait_hub.tracking.retarget`:
relative motion, multiplier, neutral calibration) and rendered frame by frame from one baked
identity. The mp4 is H.264 yuv420p with the driver's audio (:func:`~aniportrait_hub.video.write_video`);
``--side_by_side`` puts the driver on the left, ``--depth`` writes ``OUT_depth.mp4`` beside it.
Existing files are never overwritten without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aniportrait_hub.commands.common import (
    PERSON_HELP,
    claim_output,
    fill_help,
    new_parser,
    person_option,
    run_command,
)

#: The authors' file names in a driving folder (``examples/driving/real_sample1`` layout),
#: first match of each.
AUTHORS_FILES = {"exp_path": ("expression.npy",), "pose_path": ("joint_eulers.npy", "headpose.npy", "pose.npy"),
                 "cam_path": ("camera_pose.npy",)}


@dataclasses.dataclass
class DriveConfig:
    """Run config of the drive CLI."""

    out: Path
    """The mp4 to write."""
    video: Path | None = None
    """A driving video (tracked here)."""
    sequence: Path | None = None
    """A driving sequence ``.npz`` (``DrivingSequence.save``, e.g. from ``--save_sequence``)."""
    authors: Path | None = None
    """A folder of the authors' ``.npy`` files (expression, joint_eulers / headpose, camera_pose),
    played one row per frame at 12.5 fps (their real tracks' rate)."""
    model: str = "default"
    """``default`` (the embedded model), a pipeline folder, a Hub repo id, or preset:NAME."""
    seed: int = 0
    """The driven person's seed."""
    psi: float = 0.7
    """Truncation psi in [0, 1]."""
    relative: bool = False
    """The driver's motion relative to its first frame, on top of the portrait's frontal rest
    pose and camera (False: the driver's absolute pose and camera)."""
    smoothing: float = 0.3
    """Savitzky-Golay smoothing strength of a tracked video, in [0, 1]."""
    person: str | int = "largest"
    """Whom to track in a video of several people: ``largest``, ``left``, ``right`` or N (the
    N-th face from the left)."""
    multiplier: float = 1.0
    """Expression multiplier in [0, 5]."""
    neutral_frames: int = 0
    """Subtract the median expression of the driver's first N frames (its rest face); 0: off."""
    side_by_side: bool = False
    """Driver | result (videos only)."""
    depth: bool = False
    """Also write the depth video ``OUT_depth.mp4``."""
    max_seconds: float = 60.0
    """Longer drivers are cut here (with a message)."""
    resolution: int = 256
    """Output side (the model renders any side; 512 is its full size)."""
    save_sequence: Path | None = None
    """Also save the (retargeted) driving sequence as ``.npz``."""
    overwrite: bool = False
    """Replace existing output files."""


def _sources(cfg: DriveConfig) -> str:
    given = [k for k in ("video", "sequence", "authors") if getattr(cfg, k) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of --video, --sequence, --authors (got {given or 'none'})")
    return given[0]


def load_driving(cfg: DriveConfig, exp_names: list[str]):
    """The driving sequence of ``cfg``'s source and the messages for the user."""
    from aniportrait_hub.pipelines.animation import DrivingSequence, sequence_from_authors_files
    from aniportrait_hub.tracking import TrackConfig, VideoTracker

    src = _sources(cfg)
    if src == "video":
        track = TrackConfig(max_seconds=cfg.max_seconds, smoothing=cfg.smoothing, person=cfg.person)
        with VideoTracker(exp_names, track) as tr:
            res = tr.track_video(cfg.video)
        return res.sequence, res.messages
    if src == "sequence":
        return DrivingSequence.load(cfg.sequence), []
    folder = Path(cfg.authors)
    if not folder.is_dir():
        raise FileNotFoundError(f"--authors {folder} is not a folder")
    paths = {k: next((folder / n for n in names if (folder / n).is_file()), None) for k, names in AUTHORS_FILES.items()}
    if not any(paths.values()):
        raise FileNotFoundError(f"{folder} holds none of {sorted(n for v in AUTHORS_FILES.values() for n in v)}")
    return sequence_from_authors_files(**paths, n_interval=1, fps=12.5), []


def run(cfg: DriveConfig, pipe=None, identity=None) -> list[Path]:
    """Drive as configured; returns the files written. ``pipe`` / ``identity`` (an
    :class:`~aniportrait_hub.rendering.renderer.IdentityCache`): drive these instead of
    ``cfg.model``'s sampled ``cfg.seed`` (own-photo animation passes its personal model)."""
    import torch

    from aniportrait_hub.pipelines.loading import load_pipeline
    from aniportrait_hub.pipelines.pipeline import image_uint8
    from aniportrait_hub.tracking import retarget
    from aniportrait_hub.video import depth_image, read_video, write_video

    _sources(cfg)
    if not 0 <= cfg.psi <= 1:
        raise ValueError(f"--psi {cfg.psi} outside [0, 1]")
    if not 16 <= cfg.resolution <= 1024:
        raise ValueError(f"--resolution {cfg.resolution} outside [16, 1024]")
    if cfg.side_by_side and cfg.video is None:
        raise ValueError("--side_by_side needs a --video driver")
    outputs = [claim_output(cfg.out, cfg.overwrite, ".mp4")]
    if cfg.depth:
        outputs.append(claim_output(Path(cfg.out).with_name(Path(cfg.out).stem + "_depth.mp4"), cfg.overwrite))
    if cfg.save_sequence is not None:
        claim_output(cfg.save_sequence, cfg.overwrite)
    pipe = pipe if pipe is not None else load_pipeline(cfg.model)
    basis = pipe.assets.config.basis_name
    seq, messages = load_driving(cfg, list(pipe.face_model().exp_names))
    if seq.expression_basis not in (basis, "none"):
        messages.append(f"the driver's expressions are {seq.expression_basis!r} coefficients, this model's basis is "
                        f"{basis!r}: expressions are NOT applied; pose and camera are")
        seq = dataclasses.replace(seq, expression=torch.zeros(len(seq), pipe.assets.config.exp_dim),
                                  expression_basis="none")
    keep = max(2, int(round(cfg.max_seconds * seq.fps)))
    if len(seq) > keep:  # a video is cut while it is read; sequences here
        messages.append(f"the driving sequence lasts {len(seq) / seq.fps:.1f} s; only its first {cfg.max_seconds:g} s "
                        "are used")
        seq = dataclasses.replace(seq, expression=seq.expression[:keep], joint_eulers=seq.joint_eulers[:keep],
                                  camera=seq.camera[:keep])
    seq = retarget(seq, relative=cfg.relative, multiplier=cfg.multiplier, neutral_frames=cfg.neutral_frames,
                   target_camera=torch.full((2,), torch.pi / 2) if cfg.relative else None)
    for m in messages:
        print(f"note: {m}", file=sys.stderr)
    if cfg.save_sequence is not None:
        seq.save(cfg.save_sequence)
    if identity is None:
        identity = pipe.bake_identity(seed=cfg.seed, truncation_psi=cfg.psi)
    depths: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        for out in pipe.animate_outputs(identity, seq, cfg.resolution):
            if cfg.depth:
                d = depth_image(out.depth[0, 0].cpu().numpy(), out.mask[0, 0].cpu().numpy())
                depths.append(np.repeat(d[..., None], 3, -1))
            yield image_uint8(out.image[0])

    video = frames()
    if cfg.side_by_side:
        video = _beside(read_video(cfg.video, max_seconds=cfg.max_seconds)[1], video, cfg.resolution)
    audio = cfg.video
    written = [write_video(outputs[0], video, seq.fps, audio_from=audio, overwrite=cfg.overwrite)]
    if cfg.depth:
        written.append(write_video(outputs[1], depths, seq.fps, audio_from=audio, overwrite=cfg.overwrite))
    if cfg.save_sequence is not None:
        written.append(Path(cfg.save_sequence))
    return written


def _beside(driver: Iterator[np.ndarray], result: Iterator[np.ndarray], side: int) -> Iterator[np.ndarray]:
    """Driver frames scaled to the result's height, left of each result frame (the driver's
    last frame held if it runs out first)."""
    from PIL import Image

    last = None
    for frame in result:
        d = next(driver, None)
        if d is not None:
            w = max(2, round(d.shape[1] * side / d.shape[0] / 2) * 2)
            last = np.asarray(Image.fromarray(d).resize((w, side), Image.BILINEAR))
        yield frame if last is None else np.concatenate([last, frame], 1)


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    d = DriveConfig(out=Path("out.mp4"))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a driving video (tracked)")
    src.add_argument("--sequence", type=Path, help="a driving sequence .npz")
    src.add_argument("--authors", type=Path, help="a folder of the authors' .npy driving files")
    p.add_argument("--out", type=Path, required=True, help="the mp4 to write")
    p.add_argument("--model", default=d.model)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--psi", type=float, default=d.psi)
    p.add_argument("--relative", action="store_true")
    p.add_argument("--smoothing", type=float, default=d.smoothing)
    p.add_argument("--person", type=person_option, default=d.person, help=PERSON_HELP)
    p.add_argument("--multiplier", type=float, default=d.multiplier)
    p.add_argument("--neutral_frames", type=int, default=d.neutral_frames)
    p.add_argument("--side_by_side", action="store_true")
    p.add_argument("--depth", action="store_true")
    p.add_argument("--max_seconds", type=float, default=d.max_seconds)
    p.add_argument("--resolution", type=int, default=d.resolution)
    p.add_argument("--save_sequence", type=Path)
    p.add_argument("--overwrite", action="store_true")
    return fill_help(p, DriveConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    cfg = DriveConfig(**vars(p.parse_args(argv)))
    from aniportrait_hub.tracking import INPUT_ERRORS

    return run_command(lambda: "wrote " + ", ".join(str(x) for x in run(cfg)), INPUT_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
