"""Inverse skinning of query points (METHOD.md 1.4, Eq. 4-5).

Each query point in the posed (target) space takes the skinning of its nearest upper-body
candidate vertex of the posed mesh, and is carried back to the neutral (canonical mean pose)
space by the inverse of that vertex's blended transform: ``x_p = (sum_j w_j T_j)^-1 x_t``.

Nearest-neighbour search: exact brute force with ``faiss`` (``IndexFlatL2``: a blocked GEMM
and arg-min, multi-threaded) on the CPU, chunked ``torch.cdist`` on other devices. Measured
on this project's 2-core CPU for 131k points against the 5k candidates of the open body
(``benchmarks/body.py``): faiss 26 ms, pykdtree 52 ms, scipy cKDTree 149 ms (tree searches
slow down for the many ray samples far from the body; brute force does not).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from aniportrait_hub.body.body_model import BodyOutput
from aniportrait_hub.host import on_host


@dataclasses.dataclass
class SkinningOutput:
    """Inverse-skinned points. B = batch, N = query points."""

    neutral_points: torch.Tensor
    """[B, N, 3] the points carried to the neutral (canonical mean pose) space."""
    vertex_index: torch.Tensor
    """[B, N] body-mesh index of each point's nearest candidate vertex."""
    distance: torch.Tensor
    """[B, N] distance to that vertex (world units)."""
    transforms: torch.Tensor | None
    """[B, N, 4, 4] each point's forward (neutral -> posed) transform, the tensor that the
    pose deformer D^p smooths; ``None`` unless asked for."""


def nearest_vertices(points: torch.Tensor, vertices: torch.Tensor, chunk: int = 8192):
    """Exact nearest vertex of every point.

    Args:
        points: [B, N, 3].
        vertices: [B, V, 3].
    Returns:
        index [B, N] (long, into V) and Euclidean distance [B, N].
    """
    index_t = nearest_vertex_indices(points, vertices, 1, chunk)[..., 0]
    # The GEMM form of the distance loses ~1e-4 to cancellation: recompute it exactly.
    nearest = torch.gather(vertices.detach(), 1, index_t.unsqueeze(-1).expand(-1, -1, 3))
    return index_t, (points.detach() - nearest).norm(dim=-1)


def nearest_vertex_indices(points: torch.Tensor, vertices: torch.Tensor, k: int = 1, chunk: int = 8192,
                           reach: float | None = None):
    """Indices [B, N, k] (long, into V) of the k nearest vertices of every point, nearest first;
    points [B, N, 3], vertices [B, V, 3] (no gradient: the indices are discrete). With ``reach``
    (k > 1), neighbours farther than it may be reported as V (none), which lets the search
    give up early on points far from every vertex.

    On the CPU, k = 1 is faiss's brute force (above); k > 1 is scipy's k-d tree on all cores:
    faiss selects k > 1 with a heap per query, 4.1 s for 137k queries against 10k points here,
    against 0.23 s for cKDTree (pykdtree, not a dependency, 0.16 s)."""
    if points.dim() != 3 or points.shape[-1] != 3 or vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"points [B, N, 3] and vertices [B, V, 3] expected, got {tuple(points.shape)} "
                         f"and {tuple(vertices.shape)}")
    if points.shape[0] != vertices.shape[0]:
        raise ValueError(f"batch sizes differ: points {points.shape[0]}, vertices {vertices.shape[0]}")
    if on_host(points) and k > 1:
        from scipy.spatial import cKDTree

        bound = np.inf if reach is None else reach
        return torch.stack([torch.from_numpy(np.asarray(cKDTree(v.float().numpy()).query(
            p.float().numpy(), k, workers=-1, distance_upper_bound=bound)[1], dtype=np.int64).reshape(-1, k))
            for p, v in zip(points.detach(), vertices.detach())])
    if on_host(points):
        import faiss

        # faiss answers fewer than 128k queries with a scalar loop (6 us a query here) and more
        # with a blocked GEMM (0.2 us): take the GEMM from 20 queries on (36k queries: 217 -> 7 ms).
        faiss.cvar.distance_compute_blas_threshold = 20
        idx = []
        for p, v in zip(points.detach(), vertices.detach()):
            index = faiss.IndexFlatL2(3)
            index.add(np.ascontiguousarray(v.float().numpy()))
            _, ind = index.search(np.ascontiguousarray(p.float().numpy()), k)
            idx.append(torch.from_numpy(ind))
        return torch.stack(idx).long()
    # On accelerators the brute force is a plain batched distance + top-k.
    out = []
    for p in points.detach().split(chunk, dim=1):
        d, i = torch.cdist(p, vertices.detach()).topk(k, dim=-1, largest=False)
        out.append(i if reach is None or k == 1 else torch.where(d > reach, vertices.shape[1], i))
    return torch.cat(out, 1)


def inverse_skinning(points: torch.Tensor, body: BodyOutput, candidate_vertex_ids: torch.Tensor,
                     return_transforms: bool = False) -> SkinningOutput:
    """Carry posed-space points to the neutral space through their nearest candidate vertex.

    Args:
        points: [B, N, 3] query points in the world frame (posed space).
        body: the posed body (:class:`BodyOutput`) of the same batch.
        candidate_vertex_ids: [Vc] body-mesh vertices the points may attach to.
        return_transforms: also return each point's forward transform [B, N, 4, 4].
    Returns:
        :class:`SkinningOutput`.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be [B, N, 3], got {tuple(points.shape)}")
    cand = candidate_vertex_ids.to(points.device)
    # 1. Nearest posed candidate vertex.
    local, dist = nearest_vertices(points, body.vertices[:, cand])  # [B, N]
    vertex_index = cand[local]  # [B, N]
    # 2. Invert only the candidates' transforms, then gather per point (flat row indexing is
    #    ~10x faster than torch.gather with an expanded index here).
    b, vc = points.shape[0], cand.numel()
    fwd = body.vertex_transforms[:, cand]  # [B, Vc, 4, 4]
    inv = torch.linalg.inv(fwd)[:, :, :3, :].reshape(b * vc, 12)  # [B*Vc, 12]
    flat = (local + torch.arange(b, device=local.device)[:, None] * vc).reshape(-1)  # [B*N]
    inv_p = inv[flat].view(b, -1, 3, 4)  # [B, N, 3, 4]
    neutral = (inv_p[..., :3] @ points.unsqueeze(-1))[..., 0] + inv_p[..., 3]  # [B, N, 3]
    transforms = fwd.reshape(b * vc, 16)[flat].view(b, -1, 4, 4) if return_transforms else None
    return SkinningOutput(neutral, vertex_index, dist, transforms)


def apply_inverse_transforms(points: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """``x_p = T^-1 x_t`` per point, for transforms changed after the lookup (e.g. by D^p).

    Args:
        points: [B, N, 3]; transforms: [B, N, 4, 4] forward (neutral -> posed) transforms.
    Returns:
        [B, N, 3].
    """
    lin, trans = transforms[..., :3, :3], transforms[..., :3, 3]
    return solve3(lin, points - trans)


def solve3(a: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``a x = rhs`` for many 3 x 3 systems: a [..., 3, 3], rhs [..., 3] -> [..., 3].

    Cramer's rule written out (our choice): ``torch.linalg.solve`` factorises each tiny system
    through LAPACK, ~5x slower for the 131k systems of a frame's frustum grid; blended skinning
    transforms are near-rotations, so the determinant is far from 0."""
    r0, r1, r2 = a[..., 0, :], a[..., 1, :], a[..., 2, :]
    c01, c12, c20 = torch.linalg.cross(r0, r1), torch.linalg.cross(r1, r2), torch.linalg.cross(r2, r0)
    det = (r0 * c12).sum(-1, keepdim=True)
    # a^-1 = [c12, c20, c01]^T / det (columns are the rows' cross products)
    x = c12 * rhs[..., 0:1] + c20 * rhs[..., 1:2] + c01 * rhs[..., 2:3]
    return x / det
