"""``aniportrait train-encoder``: the command line of :mod:`aniportrait_hub.inversion.encoder`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import aniportrait_hub.inversion.encoder as _library
from aniportrait_hub.commands.common import new_parser
from aniportrait_hub.inversion.encoder import DEFAULT_ENCODER, generator_pairs, train_encoder


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    ap = new_parser(_library.__doc__)
    ap.add_argument("--model", default="default",
                   help='the generator whose samples teach the encoder: default, a folder or a Hub repo id')
    ap.add_argument("--pairs", type=int, default=3000,
                   help='(sample, latents) pairs to generate')
    ap.add_argument("--steps", type=int, default=1500,
                   help='training steps')
    ap.add_argument("--cache", default="encoder_pairs.pt", help="pairs file (reused and extended if present)")
    ap.add_argument("--out", default=str(DEFAULT_ENCODER),
                   help='folder to save the encoder in (diffusers format)')
    ap.add_argument("--seed", type=int, default=0,
                   help='seed of the pairs and the training')
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    from aniportrait_hub.pipelines.loading import load_pipeline

    pipe = load_pipeline(a.model)
    cache = Path(a.cache)
    dim = pipe.priors.config.noise_dim
    images, codes = (torch.load(cache) if cache.is_file() else (torch.empty(0, 3, 64, 64), torch.empty(0, dim)))
    t0 = time.time()
    chunk = 200
    while len(codes) < a.pairs:  # in chunks, saved as they come (a stopped run resumes)
        x, y = generator_pairs(pipe, min(chunk, a.pairs - len(codes)), seed=a.seed * 100_000 + len(codes))
        images, codes = torch.cat([images, x]), torch.cat([codes, y])
        torch.save((images.half(), codes), cache.with_suffix(".tmp"))
        cache.with_suffix(".tmp").replace(cache)
        print(f"[encoder] {len(codes)} pairs ({time.time() - t0:.0f} s)", flush=True)
    enc, report = train_encoder(images.float(), codes, steps=a.steps)
    report["pair_seconds"] = time.time() - t0
    out = Path(a.out)
    enc.save_pretrained(out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
