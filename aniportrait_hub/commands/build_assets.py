"""``aniportrait build-assets``: the command line of :mod:`aniportrait_hub.body.build_open_assets`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import aniportrait_hub.body.build_open_assets as _library
from aniportrait_hub.body.build_open_assets import BuildConfig, build
from aniportrait_hub.commands.common import fill_help, new_parser


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(_library.__doc__)
    p.add_argument("--out", type=Path, default=BuildConfig.out)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--seed", type=int, default=BuildConfig.seed)
    p.add_argument("--report", type=Path, default=None, help="also write the fidelity report as JSON here")
    return fill_help(p, BuildConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    cfg = BuildConfig(out=args.out, overwrite=args.overwrite, seed=args.seed)
    if cfg.out.exists() and not cfg.overwrite:
        print(f"error: {cfg.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    result = build(cfg)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **result["arrays"])
    tmp.replace(cfg.out)  # atomic: a failed build never leaves a half-written asset
    print(json.dumps(result["report"], indent=1))
    print(f"[build] wrote {cfg.out} ({cfg.out.stat().st_size / 1e6:.2f} MB)")
    if args.report:
        args.report.write_text(json.dumps(result["report"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
