"""``aniportrait landmarks``: the command line of :mod:`aniportrait_hub.data.landmarks`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aniportrait_hub.commands.common import new_parser, run_command
from aniportrait_hub.data.landmarks import EMBEDDING_PATH, build_embedding


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser("Embed mediapipe's landmarks on the open body mesh.")
    p.add_argument("--n", type=int, default=60, help="synthetic renders to calibrate on")
    p.add_argument("--out", type=Path, default=EMBEDDING_PATH,
                   help='the embedding .npz to write (default: the one shipped in the package)')
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    def go() -> str:
        emb = build_embedding(args.n)
        emb.save(args.out)
        return (f"wrote {args.out}: {len(emb.mesh_index)} face landmarks (median residual "
                f"{np.median(emb.residual_px):.1f} px at 512, max {emb.residual_px.max():.1f}), shoulder offsets "
                f"{np.round(emb.shoulder_offsets * 1000).tolist()} mm")

    return run_command(go, (RuntimeError,))


if __name__ == "__main__":
    raise SystemExit(main())
