import math

import torch
from scipy.spatial.transform import Rotation

from aniportrait_hub.body.conventions import euler_zyx_to_matrix, matrix_to_euler_zyx


def test_euler_is_rz_ry_rx_stored_zyx():
    # scipy's intrinsic 'ZYX' sequence is Rz(a0) @ Ry(a1) @ Rx(a2): an independent reference.
    angles = torch.tensor([[0.3, -0.4, 1.1], [-2.0, 0.2, 0.05]], dtype=torch.float64)
    ref = Rotation.from_euler("ZYX", angles.numpy()).as_matrix()
    assert torch.allclose(euler_zyx_to_matrix(angles), torch.from_numpy(ref), atol=1e-12)


def test_quarter_turn_about_z_maps_x_to_y():
    r = euler_zyx_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]))
    assert torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_matrix_to_euler_round_trip():
    angles = (torch.rand(50, 3, dtype=torch.float64) - 0.5) * torch.tensor([6.0, 3.0, 6.0], dtype=torch.float64)
    back = matrix_to_euler_zyx(euler_zyx_to_matrix(angles))
    assert torch.allclose(euler_zyx_to_matrix(back), euler_zyx_to_matrix(angles), atol=1e-10)
    assert torch.allclose(back, angles, atol=1e-9)
