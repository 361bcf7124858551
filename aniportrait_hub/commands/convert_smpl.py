"""``aniportrait convert-smpl``: the command line of :mod:`aniportrait_hub.body.convert_smpl`."""

from __future__ import annotations

import argparse
from pathlib import Path

from aniportrait_hub.body.assets import AssetError
from aniportrait_hub.body.convert_smpl import convert
from aniportrait_hub.commands.common import new_parser, run_command


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser("Convert an SMPL .pkl (MPI layout) to .npz without chumpy.")
    p.add_argument("src", type=Path,
                   help='the SMPL .pkl (MPI layout; read without chumpy)')
    p.add_argument("dst", type=Path,
                   help='the .npz to write')
    p.add_argument("--overwrite", action="store_true",
                   help='replace dst if it exists')
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    return run_command(lambda: f"wrote {convert(args.src, args.dst, args.overwrite)}", (AssetError,))


if __name__ == "__main__":
    raise SystemExit(main())
