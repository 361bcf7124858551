"""Driver -> target: neutral calibration, multiplier, relative motion composed as rotations."""

import math

import pytest
import torch

from aniportrait_hub.body.conventions import POSE_JOINTS, euler_zyx_to_matrix
from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.tracking.retarget import neutral_expression, retarget

HEAD = POSE_JOINTS.index(15)


def _seq(t=20, basis="arkit52"):
    exp = torch.full((t, 4), 0.2)
    exp[10:, 1] = 0.7  # unit 1 opens halfway through; the driver's rest face reads 0.2 everywhere
    eul = torch.zeros(t, 6, 3)
    eul[:, HEAD, 1] = torch.linspace(0.1, 0.4, t)  # head yaw from 0.1 to 0.4 rad
    eul[:, 0, 2] = 0.05  # a constant neck pitch of the driver
    cam = torch.tensor([[math.pi / 2, math.pi / 2 + 0.1]]).repeat(t, 1)
    return DrivingSequence(exp, eul, cam, 30.0, basis)


def test_neutral_calibration_and_multiplier():
    s = _seq()
    assert torch.allclose(neutral_expression(s.expression, 5), torch.full((4,), 0.2))
    out = retarget(s, neutral_frames=5, multiplier=1.0)
    assert torch.allclose(out.expression[:10], torch.zeros(10, 4), atol=1e-6)
    assert torch.allclose(out.expression[10:, 1], torch.full((10,), 0.5))
    big = retarget(s, neutral_frames=5, multiplier=3.0)
    assert torch.allclose(big.expression[10:, 1], torch.ones(10))  # ARKit units clip to [0, 1]
    free = retarget(_seq(basis="bfm09"), neutral_frames=5, multiplier=3.0)
    assert torch.allclose(free.expression[10:, 1], torch.full((10,), 1.5))
    target = torch.tensor([0.0, 0.0, 0.3, 0.0])
    assert torch.allclose(retarget(s, neutral_frames=5, target_expression=target).expression[0], target)
    with pytest.raises(ValueError, match="multiplier"):
        retarget(s, multiplier=-1)
    with pytest.raises(ValueError, match="neutral_frames"):
        neutral_expression(s.expression, 0)


def test_relative_motion_starts_at_the_target_and_carries_the_drivers_change():
    s = _seq()
    target = torch.zeros(6, 3)
    target[HEAD, 0] = 0.2  # the target's own head roll
    out = retarget(s, relative=True, target_joint_eulers=target, target_camera=torch.tensor([1.5, 1.6]))
    assert torch.allclose(out.joint_eulers[0], target, atol=1e-6)  # the driver's first pose is dropped
    # last frame: the driver's yaw change (0.3 rad) applied on top of the target's roll, as rotations
    expect = euler_zyx_to_matrix(torch.tensor([0.0, 0.3, 0.0])) @ euler_zyx_to_matrix(target[HEAD])
    assert torch.allclose(euler_zyx_to_matrix(out.joint_eulers[-1, HEAD]), expect, atol=1e-5)
    assert torch.allclose(out.joint_eulers[:, 0], torch.zeros(20, 3), atol=1e-6)  # constant neck: no motion
    assert torch.allclose(out.camera, torch.tensor([1.5, 1.6]).expand(20, 2))
    absolute = retarget(s, relative=False)
    assert torch.equal(absolute.joint_eulers, s.joint_eulers) and torch.equal(absolute.camera, s.camera)
    with pytest.raises(ValueError, match="target_joint_eulers"):
        retarget(s, target_joint_eulers=torch.zeros(3))
