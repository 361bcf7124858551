"""Headless CPU rendering of meshes for the synthetic dataset, by ray casting with Embree
(``trimesh`` + ``embreex``; issue: datasets).

Embree finds, for each pixel's ray (the same pinhole cameras as the renderer,
:mod:`aniportrait_hub.rendering.cameras`), the first triangle hit; vertex attributes
(colour, normal, part labels) are then interpolated with the hit's barycentric coordinates.
Chosen over an OpenGL context because it needs no system libraries (pip wheels only), so
it runs on every machine and in CI; 256^2 on the 27k-triangle body takes ~10-30 ms here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aniportrait_hub.rendering.cameras import Camera, camera_rays


@dataclasses.dataclass
class RayHits:
    """First hits of a res x res image: ``triangle`` [H, W] (-1 = background),
    ``barycentric`` [H, W, 3], ``depth`` [H, W] distance along the ray (inf = background)."""

    triangle: np.ndarray
    barycentric: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.triangle >= 0


def cast_rays(vertices: np.ndarray, faces: np.ndarray, camera: Camera, resolution: int) -> RayHits:
    """First triangle hit per pixel of a single camera (batch 1).

    Args:
        vertices: [V, 3] world units. faces: [F, 3]. camera: one :class:`Camera`.
    """
    if camera.origin.shape[0] != 1:
        raise ValueError(f"cast_rays renders one camera at a time, got a batch of {camera.origin.shape[0]}")
    o, d = camera_rays(camera, resolution, resolution)
    return cast(vertices, faces, o[0].double().numpy(), d[0].double().numpy(), (resolution, resolution))


def cast(vertices: np.ndarray, faces: np.ndarray, origins: np.ndarray, directions: np.ndarray,
         shape: tuple[int, ...]) -> RayHits:
    """First triangle hit of arbitrary rays: origins / unit directions [R, 3], R = prod(shape);
    the hits come back in ``shape`` (e.g. the orthographic rays of the radiance-map grid)."""
    import trimesh
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    o, d = np.asarray(origins, np.float64), np.asarray(directions, np.float64)
    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces), process=False)
    loc, ray_idx, tri_idx = RayMeshIntersector(mesh).intersects_location(o, d, multiple_hits=False)
    r = o.shape[0]
    triangle = np.full(r, -1, np.int64)
    depth = np.full(r, np.inf)
    bary = np.zeros((r, 3))
    if len(ray_idx):
        triangle[ray_idx] = tri_idx
        depth[ray_idx] = np.einsum("ij,ij->i", loc - o[ray_idx], d[ray_idx])
        corners = mesh.vertices[mesh.faces[tri_idx]]  # [n, 3, 3]
        bary[ray_idx] = trimesh.triangles.points_to_barycentric(corners, loc)
    return RayHits(triangle.reshape(shape), bary.reshape(*shape, 3), depth.reshape(shape))


def interpolate(hits: RayHits, faces: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` [V, C] at the hits -> [..., C] (0 on the background)."""
    tri = np.clip(hits.triangle, 0, None)
    corner_vals = values[faces[tri]]  # [..., 3, C]
    out = np.einsum("...k,...kc->...c", hits.barycentric, corner_vals)
    return out * hits.mask[..., None]

