"""Benchmark: body forward + inverse skinning of 131k query points (issue: foundation).

``python benchmarks/body.py [--out benchmarks/results/body.json]``

The query points are the ray samples of one portrait image as the renderer draws them
(METHOD.md 1.3-1.4): a frontal portrait camera (radius 1.895, fov 12 deg) with 64 x 64 rays
and 32 samples per ray over depth r +- 0.22, i.e. 131,072 points. Times are the median of
repeated runs with random poses; the nearest-neighbour libraries are compared on the same
points.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

import torch

from aniportrait_hub.body import BodyModel, inverse_skinning
from aniportrait_hub.body.skinning import nearest_vertices

sys.path.insert(0, str(Path(__file__).parent))
from timing import timed  # noqa: E402


def portrait_ray_samples(rays: int = 64, samples: int = 32, radius: float = 1.895, fov_deg: float = 12.0,
                         half_depth: float = 0.22) -> torch.Tensor:
    """[1, rays*rays*samples, 3] points along the rays of a frontal portrait camera."""
    half = math.tan(math.radians(fov_deg / 2))
    u = torch.linspace(-half, half, rays)
    yy, xx = torch.meshgrid(-u, u, indexing="ij")
    dirs = torch.stack([xx, yy, -torch.ones_like(xx)], -1).reshape(-1, 3)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    depth = torch.linspace(radius - half_depth, radius + half_depth, samples)
    cam = torch.tensor([0.0, 0.0, radius])
    return (cam + dirs[:, None] * depth[None, :, None]).reshape(1, -1, 3)


def _median_ms(fn, repeats: int) -> float:
    return timed(fn, repeats) * 1e3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "body.json")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    body = BodyModel.from_open_default()
    pts = portrait_ray_samples()
    gen = torch.Generator().manual_seed(0)
    poses = [((torch.rand(1, 6, 3, generator=gen) - 0.5) * 0.6, torch.randn(1, 10, generator=gen) * 0.5)
             for _ in range(args.repeats + 1)]
    it = iter(poses * 10)

    def full():
        eul, betas = next(it)
        with torch.no_grad():
            out = body(betas, eul)
            inverse_skinning(pts, out, body.candidate_vertex_ids)

    def fwd():
        eul, betas = next(it)
        with torch.no_grad():
            body(betas, eul)

    with torch.no_grad():
        out = body(torch.zeros(1, 10), torch.zeros(1, 6, 3))
    cand = out.vertices[:, body.candidate_vertex_ids]

    def skin_only():
        with torch.no_grad():
            inverse_skinning(pts, out, body.candidate_vertex_ids)

    def skin_with_transforms():
        with torch.no_grad():
            inverse_skinning(pts, out, body.candidate_vertex_ids, return_transforms=True)

    res = {
        "what": "body forward + inverse skinning, 131,072 portrait ray samples, open default body",
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "torch": torch.__version__},
        "n_points": int(pts.shape[1]),
        "n_vertices": body.num_vertices,
        "n_candidates": int(body.candidate_vertex_ids.numel()),
        "median_ms": {
            "body_forward_plus_inverse_skinning": _median_ms(full, args.repeats),
            "body_forward": _median_ms(fwd, args.repeats),
            "inverse_skinning": _median_ms(skin_only, args.repeats),
            "inverse_skinning_returning_transforms": _median_ms(skin_with_transforms, args.repeats),
            "nearest_faiss": _median_ms(lambda: nearest_vertices(pts, cand), args.repeats),
        },
        "target_ms": 50.0,
    }
    from scipy.spatial import cKDTree

    c, q = cand[0].numpy(), pts[0].numpy()
    res["median_ms"]["nearest_scipy_ckdtree"] = _median_ms(lambda: cKDTree(c).query(q, workers=-1), 5)
    try:
        from pykdtree.kdtree import KDTree

        res["median_ms"]["nearest_pykdtree"] = _median_ms(lambda: KDTree(c).query(q), 5)
    except ImportError:
        pass
    res["median_ms"] = {k: round(v, 2) for k, v in res["median_ms"].items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
