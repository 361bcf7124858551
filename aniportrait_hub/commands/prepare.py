"""``aniportrait prepare``: the command line of :mod:`aniportrait_hub.data.prepare`."""

from __future__ import annotations

import argparse
from pathlib import Path

import aniportrait_hub.data.prepare as _library
from aniportrait_hub.commands.common import fill_help, new_parser, run_command
from aniportrait_hub.data.prepare import PrepareConfig, Preparer


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(_library.__doc__)
    d = PrepareConfig()
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    for f in ("res", "face_res", "batch", "heldout_every", "sheet_max"):
        p.add_argument(f"--{f}", type=int, default=getattr(d, f))
    for f in ("max_residual", "min_inside"):
        p.add_argument(f"--{f}", type=float, default=getattr(d, f))
    return fill_help(p, PrepareConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    def go() -> str:
        rep = Preparer(PrepareConfig(**vars(args))).run()
        return (f"prepared {len(rep['prepared'])} photo(s), skipped {len(rep['skipped'])} "
                f"(reasons in {args.out / 'report.md'}); {rep['seconds_per_photo']} s per photo")

    return run_command(go, (ValueError, FileExistsError, FileNotFoundError))


if __name__ == "__main__":
    raise SystemExit(main())
