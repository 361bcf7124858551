"""Animate your own photo: photo -> personal model -> mp4.

    aniportrait animate --photo me.jpg --out out.mp4
        [--video driver.mp4 | --sequence S.npz | --sweep camera|head|expression|all]
        [--quality quick|full] [--invert_steps N] [--tune_steps N] [--map_steps N] [--no_tune]
        [--edit age=+1 ...]
        [--save_identity DIR] [--person largest|left|right|N]
        [--resolution R] [--model PATH_OR_ID] [--overwrite]
    aniportrait animate --identity DIR --sweep head --out out.mp4

The photo is prepared (detection, label fit, aligned crops; :func:`~aniportrait_hub.inversion.prepare_photo`),
inverted from the photo encoder's guess and pivotally tuned (:func:`~aniportrait_hub.inversion.photo_to_model`),
then rendered: a sweep around the photo's own pose (the camera orbits +-30 deg, the head turns
+-30 deg, or the face smiles and opens the mouth), or driven by a video or a driving sequence
(as ``aniportrait drive``, relative to a frontal rest). ``--save_identity``
keeps the personal model (``AniPortraitGAN.from_pretrained(DIR)``); ``--identity`` reuses one.
No file is overwritten without ``--overwrite``; the photo is only read.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import torch

from aniportrait_hub.commands.common import claim_output, fill_help, new_parser, person_option, run_command

SWEEPS = ("camera", "head", "expression", "all")


@dataclasses.dataclass
class AnimateConfig:
    """Run config of the animate CLI."""

    out: Path
    """The mp4 to write."""
    photo: Path | None = None
    """The photo to animate."""
    identity: Path | None = None
    """A saved personal model (``--save_identity``) instead of a photo."""
    video: Path | None = None
    """A driving video (tracked)."""
    sequence: Path | None = None
    """A driving sequence ``.npz``."""
    sweep: str | None = None
    """camera | head | expression | all (the default when no driver is given)."""
    quality: str = "quick"
    """quick (<= 60 s on a 2-core CPU) or full (a few minutes, closer to the photo)."""
    tune: bool = True
    """Pivotal tuning of the person's FiLM offset and maps (False: the inverted code alone)."""
    invert_steps: int | None = None
    """Inversion steps instead of the quality's (quick 4, full 30)."""
    tune_steps: int | None = None
    """Pivotal-tuning (FiLM) steps instead of the quality's (quick 0, full 30)."""
    map_steps: int | None = None
    """Map-tuning steps instead of the quality's (quick 40, full 150): the photo's own pixels."""
    edit: list[str] | None = None
    """Attribute edits NAME=STRENGTH (age, gender, weight, hair_length, skin_tone; strengths in
    standard deviations, [-3, 3])."""
    save_identity: Path | None = None
    """Also save the personal model into this (new or empty) folder."""
    person: str | int | None = None
    """Whom to take from a photo of several people: ``largest``, ``left``, ``right`` or N (the
    N-th face from the left); None: the photo must show one person."""
    model: str = "default"
    """The generator: default, a pipeline folder or a Hub repo id."""
    resolution: int = 256
    """Output side."""
    seconds: float = 3.0
    """Length of each sweep."""
    fps: float = 25.0
    """Frame rate of sweeps."""
    overwrite: bool = False


def sweep_sequence(kind: str, expression: torch.Tensor, joint_eulers: torch.Tensor, camera: torch.Tensor,
                   exp_names: list[str], basis: str, seconds: float = 3.0, fps: float = 25.0):
    """A :class:`~aniportrait_hub.pipelines.animation.DrivingSequence` around one pose ([1, ...]
    labels): ``camera`` orbits the yaw 0 -> +30 -> -30 -> 0 deg, ``head`` turns the head the same
    way, ``expression`` goes to a smile, opens the mouth and returns; ``all`` plays the three."""
    from aniportrait_hub.pipelines.animation import DrivingSequence

    if kind not in SWEEPS:
        raise ValueError(f"--sweep must be one of {SWEEPS}, got {kind!r}")
    if kind == "all":
        parts = [sweep_sequence(k, expression, joint_eulers, camera, exp_names, basis, seconds, fps)
                 for k in SWEEPS[:3]]
        return DrivingSequence(torch.cat([p.expression for p in parts]), torch.cat([p.joint_eulers for p in parts]),
                               torch.cat([p.camera for p in parts]), fps, basis)
    n = max(2, round(seconds * fps))
    t = torch.linspace(0, 1, n)
    wave = torch.sin(2 * math.pi * t) * math.radians(30)  # 0 -> +30 -> -30 -> 0
    exp = expression.repeat(n, 1)
    eul = joint_eulers.repeat(n, 1, 1)
    cam = camera.repeat(n, 1)
    if kind == "camera":
        cam[:, 1] = cam[:, 1] + wave
    elif kind == "head":
        eul[:, 3, 1] = eul[:, 3, 1] + wave
    else:
        ramp = torch.sin(math.pi * t).clamp(min=0)  # 0 -> 1 -> 0
        smile = torch.zeros_like(exp[0])
        for name, value in (("mouthSmileLeft", 1.0), ("mouthSmileRight", 1.0), ("jawOpen", 0.5),
                            ("cheekSquintLeft", 0.4), ("cheekSquintRight", 0.4)):
            if name in exp_names:
                smile[exp_names.index(name)] = value
        exp = exp + ramp[:, None] * (smile - exp[0]).clamp(min=0)[None]
    return DrivingSequence(exp, eul, cam, fps, basis)


def run(cfg: AnimateConfig) -> list[Path]:
    """Animate as configured; returns the files written."""
    from aniportrait_hub.commands.drive import DriveConfig
    from aniportrait_hub.commands.drive import run as drive
    from aniportrait_hub.inversion.edits import parse_edits
    from aniportrait_hub.inversion.identity import QUALITIES, photo_to_model
    from aniportrait_hub.inversion.personal import save_personal_model
    from aniportrait_hub.pipelines.loading import load_pipeline
    from aniportrait_hub.pipelines.pipeline import AniPortraitGAN, image_uint8
    from aniportrait_hub.video import write_video

    if (cfg.photo is None) == (cfg.identity is None):
        raise ValueError("give exactly one of --photo and --identity")
    drivers = [k for k in ("video", "sequence", "sweep") if getattr(cfg, k) is not None]
    if len(drivers) > 1:
        raise ValueError(f"give at most one of --video, --sequence, --sweep (got {drivers})")
    sweep = cfg.sweep or ("all" if not drivers else None)
    if sweep is not None and sweep not in SWEEPS:
        raise ValueError(f"--sweep must be one of {SWEEPS}, got {sweep!r}")
    if cfg.quality not in QUALITIES:
        raise ValueError(f"--quality must be one of {sorted(QUALITIES)}, got {cfg.quality!r}")
    if not 16 <= cfg.resolution <= 1024:
        raise ValueError(f"--resolution {cfg.resolution} outside [16, 1024]")
    for name, lo in (("invert_steps", 1), ("tune_steps", 0), ("map_steps", 0)):
        if getattr(cfg, name) is not None and not lo <= getattr(cfg, name) <= 500:
            raise ValueError(f"--{name} {getattr(cfg, name)} outside [{lo}, 500]")
    if not 0.5 <= cfg.seconds <= 60 or not 1 <= cfg.fps <= 60:
        raise ValueError("--seconds must be in [0.5, 60] and --fps in [1, 60]")
    edits = parse_edits(cfg.edit)
    out = claim_output(cfg.out, cfg.overwrite, ".mp4")
    if cfg.save_identity is not None and Path(cfg.save_identity).exists() and any(Path(cfg.save_identity).iterdir()):
        raise FileExistsError(f"{cfg.save_identity} exists and is not empty; choose a new folder")
    if cfg.photo is not None and not Path(cfg.photo).is_file():
        raise FileNotFoundError(f"photo not found: {cfg.photo}")
    if cfg.identity is not None:
        pipe = AniPortraitGAN.from_pretrained(cfg.identity)
        if pipe.identity is None:
            raise ValueError(f"{cfg.identity} is a generator, not a personal model (no identity.safetensors)")
        person = pipe.identity
    else:
        quality = cfg.quality  # the preset's name, in the model's info, unless steps are overridden
        if cfg.invert_steps is not None or cfg.tune_steps is not None or cfg.map_steps is not None:
            quality = QUALITIES[cfg.quality].with_steps(cfg.invert_steps, cfg.tune_steps, cfg.map_steps)
        pipe, person = photo_to_model(load_pipeline(cfg.model), cfg.photo, quality, tune=cfg.tune,
                                      person=cfg.person)
        print(f"note: personal model ready in {person.info['seconds']:.0f} s", file=sys.stderr)
        for m in person.info.get("messages", []):
            print(f"note: {m}", file=sys.stderr)
    written = []
    if cfg.save_identity is not None:
        written.append(save_personal_model(pipe, person, cfg.save_identity))
    cache = pipe.bake_identity(person.latents, truncation_psi=1.0, edits=edits)
    if sweep is None:
        written[:0] = drive(DriveConfig(out=out, video=cfg.video, sequence=cfg.sequence, relative=True,
                                        resolution=cfg.resolution, overwrite=cfg.overwrite), pipe=pipe, identity=cache)
        return written
    seq = sweep_sequence(sweep, person.expression, person.joint_eulers, person.camera,
                         list(pipe.face_model().exp_names), pipe.assets.config.basis_name, cfg.seconds, cfg.fps)
    frames = (image_uint8(o.image[0]) for o in pipe.animate_outputs(cache, seq, cfg.resolution))
    return [write_video(out, frames, seq.fps, overwrite=cfg.overwrite)] + written


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    d = AnimateConfig(out=Path("out.mp4"))
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--photo", type=Path, help="the photo to animate")
    who.add_argument("--identity", type=Path, help="a saved personal model folder")
    drv = p.add_mutually_exclusive_group()
    drv.add_argument("--video", type=Path, help="a driving video (tracked)")
    drv.add_argument("--sequence", type=Path, help="a driving sequence .npz")
    drv.add_argument("--sweep", choices=SWEEPS, help="a sweep around the photo's pose (default: all)")
    p.add_argument("--out", type=Path, required=True, help="the mp4 to write")
    p.add_argument("--quality", choices=("quick", "full"), default=d.quality)
    p.add_argument("--no_tune", dest="tune", action="store_false", help="skip pivotal tuning")
    p.add_argument("--invert_steps", type=int, help="inversion steps instead of the quality's (quick 4, full 30)")
    p.add_argument("--tune_steps", type=int, help="FiLM tuning steps instead of the quality's (quick 0, full 30)")
    p.add_argument("--map_steps", type=int, help="map tuning steps (the photo's own pixels) instead of the quality's "
                   "(quick 40, full 150)")
    p.add_argument("--edit", action="append", help="NAME=STRENGTH, e.g. age=+1 (repeatable)")
    p.add_argument("--save_identity", type=Path, help="keep the personal model in this new folder")
    p.add_argument("--person", type=person_option, help="whom to take from a photo of several people: largest, left, "
                   "right, or N for the N-th face from the left (default: the photo must show one person)")
    p.add_argument("--model", default=d.model)
    p.add_argument("--resolution", type=int, default=d.resolution)
    p.add_argument("--seconds", type=float, default=d.seconds)
    p.add_argument("--fps", type=float, default=d.fps)
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out (and --save_identity's files) if they exist")
    return fill_help(p, AnimateConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    cfg = AnimateConfig(**vars(p.parse_args(argv)))
    from aniportrait_hub.inversion import PhotoError
    from aniportrait_hub.tracking import INPUT_ERRORS

    return run_command(lambda: "wrote " + ", ".join(str(x) for x in run(cfg)), (PhotoError, *INPUT_ERRORS))


if __name__ == "__main__":
    raise SystemExit(main())
