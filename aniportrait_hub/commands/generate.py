"""Render portraits and driven videos from the command line.

    aniportrait generate --seeds 0-3 --psi 0.7 --outdir out [--model PATH_OR_ID]
    aniportrait generate --model PATH_OR_ID --seeds 0 --outdir out \\
        --pose_path headpose.npy --n_interval 10 --fps 25

``--model`` takes ``default`` (the embedded default model, used when it is not given), a
pipeline folder, a Hub repo id (from the local Hub cache when offline) or ``preset:NAME``
(untrained weights of a named preset). Without
driving files it writes, per seed, the portrait, its depth map and the face-camera image as PNG.
With ``--exp_path`` / ``--pose_path`` / ``--cam_path`` (the authors' keyframe layouts) it writes
an H.264 mp4 per seed: keyframe files are interpolated with ``--n_interval`` frames per gap,
real tracks are played one row per frame. Expression rows are BFM coefficients: they apply only
to a model whose expression basis is BFM; with any other model they are ignored and the tool
says so. Existing files are never overwritten without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from aniportrait_hub.commands.common import claim_output, fill_help, new_parser, run_command


@dataclasses.dataclass
class GenerateConfig:
    """Run config of the generate CLI."""

    model: str = "default"
    """``default`` (the embedded model), a pipeline folder, a Hub repo id, or preset:NAME (untrained)."""
    seeds: str = "0"
    """Seeds: '0-3' (inclusive range) or '0,4,7'."""
    psi: float = 0.7
    """Truncation psi in [0, 1]."""
    outdir: Path = Path("out")
    """Output folder (created)."""
    resolution: int | None = None
    """Output side (default: the model's)."""
    exp_path: Path | None = None
    """Expression keyframes / track (.npy [K, 64], BFM)."""
    pose_path: Path | None = None
    """Joint Euler keyframes / track (.npy [K, 6, 3])."""
    cam_path: Path | None = None
    """Camera keyframes / track (.npy [K, 2], pitch and yaw in radians)."""
    n_interval: int = 10
    """Frames per keyframe gap."""
    fps: float = 25.0
    """Video frame rate."""
    shoulders: str = "auto"
    """Shoulder angles of the pose file: relative, absolute or auto (detect)."""
    overwrite: bool = False
    """Replace existing output files."""


def parse_seeds(text: str) -> list[int]:
    """'0-3' -> [0, 1, 2, 3]; '1,5' -> [1, 5]."""
    try:
        if "-" in text.strip("-"):
            a, b = text.split("-", 1)
            seeds = list(range(int(a), int(b) + 1))
        else:
            seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"seeds must look like '0-3' or '0,4,7', got {text!r}") from None
    if not seeds or len(seeds) > 10_000 or min(seeds) < 0:
        raise ValueError(f"seeds {text!r}: give 1 to 10,000 non-negative seeds")
    return seeds


def load_pipeline(model: str):
    from aniportrait_hub.pipelines.loading import load_pipeline as load

    return load(model)


def run(cfg: GenerateConfig) -> list[Path]:
    """Render as configured; returns the files written."""
    from tqdm.auto import tqdm

    from aniportrait_hub.pipelines.animation import sequence_from_authors_files
    from aniportrait_hub.provenance import save_png
    from aniportrait_hub.video import depth_image, write_video

    seeds = parse_seeds(cfg.seeds)
    if not 0 <= cfg.psi <= 1:
        raise ValueError(f"--psi {cfg.psi} outside [0, 1]")
    pipe = load_pipeline(cfg.model)
    cfg.outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    driving = any(p is not None for p in (cfg.exp_path, cfg.pose_path, cfg.cam_path))
    if not driving:
        for seed in tqdm(seeds, desc="portraits"):
            out = pipe(seed=seed, truncation_psi=cfg.psi, resolution=cfg.resolution, output_type="np")
            stem = cfg.outdir / f"seed{seed:04d}"
            for path, img in ((Path(f"{stem}.png"), out.images[0]), (Path(f"{stem}_face.png"), out.face_images[0]),
                              (Path(f"{stem}_lowres.png"), out.low_res_images[0])):
                save_png((img * 255).round().astype(np.uint8), claim_output(path, cfg.overwrite), seed=seed,
                         psi=cfg.psi, model=cfg.model)
                written.append(path)
            path = claim_output(Path(f"{stem}_depth.png"), cfg.overwrite)
            depth = depth_image(out.depth[0], out.mask[0])
            save_png(np.repeat(depth[..., None], 3, -1), path, seed=seed, model=cfg.model)
            written.append(path)
        return written

    basis = pipe.assets.config.basis_name
    exp_path = cfg.exp_path
    if exp_path is not None and basis != "bfm09":
        print(f"note: {exp_path} holds BFM expression coefficients, but this model's expression basis is "
              f"{basis!r} ({pipe.assets.config.exp_dim} units): expressions are NOT applied; pose and camera are.",
              file=sys.stderr)
        exp_path = None
    seq = sequence_from_authors_files(exp_path, cfg.pose_path, cfg.cam_path, cfg.n_interval, cfg.fps,
                                      shoulders=cfg.shoulders)
    for seed in seeds:
        identity = pipe.bake_identity(seed=seed, truncation_psi=cfg.psi)
        path = claim_output(cfg.outdir / f"seed{seed:04d}.mp4", cfg.overwrite)
        written.append(write_video(path, pipe.animate(identity, seq, resolution=cfg.resolution), cfg.fps,
                                   overwrite=cfg.overwrite, info={"seed": seed, "psi": cfg.psi, "model": cfg.model}))
    return written


def parser() -> argparse.ArgumentParser:
    """This command's options (every one with a help line; ``--help`` shows the defaults)."""
    p = new_parser(__doc__)
    d = GenerateConfig()
    p.add_argument("--model", default=d.model)
    p.add_argument("--seeds", default=d.seeds)
    p.add_argument("--psi", type=float, default=d.psi)
    p.add_argument("--outdir", type=Path, default=d.outdir)
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--exp_path", type=Path)
    p.add_argument("--pose_path", type=Path)
    p.add_argument("--cam_path", type=Path)
    p.add_argument("--n_interval", type=int, default=d.n_interval)
    p.add_argument("--fps", type=float, default=d.fps)
    p.add_argument("--shoulders", default=d.shoulders, choices=["auto", "relative", "absolute"])
    p.add_argument("--overwrite", action="store_true")
    return fill_help(p, GenerateConfig)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    cfg = GenerateConfig(**vars(args))
    return run_command(lambda: f"wrote {len(run(cfg))} file(s) to {cfg.outdir}",
                       (ValueError, FileNotFoundError, FileExistsError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
