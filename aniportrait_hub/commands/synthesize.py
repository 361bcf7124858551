"""``aniportrait synthesize``: the command line of :mod:`aniportrait_hub.data.synthesize`."""

from __future__ import annotations

import argparse
from pathlib import Path

import aniportrait_hub.data.synthesize as _library
from aniportrait_hub.commands.common import fill_help, new_parser, run_command
from aniportrait_hub.data.synthesize import SynthConfig, build


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(_library.__doc__)
    d = SynthConfig()
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=d.n)
    p.add_argument("--res", type=int, default=d.res)
    p.add_argument("--face_res", type=int, default=d.face_res)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers)
    return fill_help(p, SynthConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    return run_command(lambda: f"wrote {args.n} samples to {build(SynthConfig(**vars(args)))}",
                       (ValueError, FileExistsError))


if __name__ == "__main__":
    raise SystemExit(main())
