import math

import numpy as np
import torch

from aniportrait_hub.data.raycast import cast_rays, interpolate
from aniportrait_hub.rendering.cameras import portrait_camera


def test_a_plane_seen_head_on():
    # A square in the plane z = 0 spanning [-1, 1]^2, two triangles.
    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    cam = portrait_camera(torch.tensor([[math.pi / 2, math.pi / 2]]), 2.0, 12.0, (0.0, 0.0, 0.0))
    hits = cast_rays(v, f, cam, 16)
    assert hits.mask.all()  # the plane fills the 12-degree view
    # Depth of the pixel-centre rays: 2 / cos(angle to the axis).
    half = math.tan(math.radians(6))
    c = (np.arange(16) + 0.5) / 16 * 2 - 1
    xx, yy = np.meshgrid(c * half, -c * half)
    assert np.allclose(hits.depth, 2.0 * np.sqrt(1 + xx**2 + yy**2), atol=1e-9)
    # Interpolating the vertex coordinates gives back the hit points (a linear attribute).
    pts = interpolate(hits, f, v)
    assert np.allclose(pts[..., 0], 2.0 * xx, atol=1e-9) and np.allclose(pts[..., 1], 2.0 * yy, atol=1e-9)
    assert set(np.unique(hits.triangle)) == {0, 1}


def test_background_and_occlusion():
    near = np.array([[-0.05, -0.05, 0.5], [0.05, -0.05, 0.5], [0.0, 0.05, 0.5]])
    far = np.array([[-0.1, -0.1, 0], [0.1, -0.1, 0], [0, 0.1, 0]], float)
    v, f = np.vstack([near, far]), np.array([[0, 1, 2], [3, 4, 5]])
    cam = portrait_camera(torch.tensor([[math.pi / 2, math.pi / 2]]), 2.0, 12.0, (0.0, 0.0, 0.0))
    hits = cast_rays(v, f, cam, 32)
    assert hits.triangle[16, 16] == 0 and hits.depth[16, 16] < 1.6  # the near triangle occludes
    assert hits.triangle[0, 0] == -1 and np.isinf(hits.depth[0, 0])  # a corner misses both
