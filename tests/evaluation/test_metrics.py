"""The evaluation's head-pose reading: PnP on face-mesh landmarks recovers a known yaw."""

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from aniportrait_hub.evaluation.metrics import HeadPoseSolver, relative_yaw_deg  # noqa: E402


def _landmarks(solver: HeadPoseSolver, yaw_deg: float, size: int, fov: float, noise: float, rng) -> np.ndarray:
    """A face mesh [478, 2] whose embedded points are the model's, turned by yaw and projected."""
    f = size / 2 / math.tan(math.radians(fov) / 2)
    k = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    frontal = np.array([math.pi, 0.0, 0.0])  # model (y up, z to the viewer) -> OpenCV camera axes
    r_front = cv2.Rodrigues(frontal)[0]
    yaw = cv2.Rodrigues(np.array([0.0, math.radians(yaw_deg), 0.0]))[0]
    rvec = cv2.Rodrigues(yaw @ r_front)[0]
    img, _ = cv2.projectPoints(solver.points, rvec, np.array([0.0, 0.0, 0.6]), k, None)
    mesh = np.zeros((478, 2))
    mesh[solver.mesh_index] = img[:, 0] + rng.normal(0, noise, img[:, 0].shape)
    return mesh


def test_pnp_reads_a_known_head_yaw_from_the_frontal_guess():
    solver = HeadPoseSolver()
    rng = np.random.default_rng(0)
    size, fov = 512, 12.0
    front = _landmarks(solver, 0.0, size, fov, 1.0, rng)
    guess = solver.solve(front, size, fov)
    r0 = solver.rotation(front, size, fov, guess)
    yaws = (-30, -10, 20, 30)
    read = [relative_yaw_deg(solver.rotation(_landmarks(solver, y, size, fov, 1.0, rng), size, fov, guess), r0)
            for y in yaws]
    sign = 1.0 if read[-1] > 0 else -1.0  # the reading's convention (the evaluation takes it from the teacher)
    assert all(abs(sign * v - y) < 2.0 for v, y in zip(read, yaws)), read
