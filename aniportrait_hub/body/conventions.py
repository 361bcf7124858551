"""Joint, axis and angle conventions shared with the authors' release (METHOD.md 1.2, 1.4).

Everything that a keyframe file of the authors' AniPortraitGAN release assumes is defined
here once, so that their files drive our models unchanged:

- body axes: x = the subject's left, y = up, z = forward (SMPL's frame);
- the reduced pose: Euler angles of SMPL joints 12-17 (neck, L/R collar, head, L/R shoulder),
  ``R = Rz(a0) @ Ry(a1) @ Rx(a2)`` stored ``[a0, a1, a2]`` (radians), relative to the
  canonical mean pose (head pitched, arms lowered);
- the 24-joint SMPL kinematic tree.
"""

from __future__ import annotations

import math

import torch

#: SMPL's 24 joints, in SMPL's order.
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
#: Parent of each SMPL joint (-1 for the root), SMPL's kinematic tree.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_SMPL_JOINTS = 24
NUM_BETAS = 10

#: SMPL joints driven by the reduced pose z_pose (METHOD.md 1.2), in the order of the
#: ``joint_eulers`` rows: neck, L collar, R collar, head, L shoulder, R shoulder.
POSE_JOINTS: tuple[int, ...] = (12, 13, 14, 15, 16, 17)
NECK, HEAD = 12, 15
#: SMPL joints whose vertices are inverse-skinning candidates (METHOD.md 1.4: head, neck,
#: collars, shoulders, upper arms, spine); their vertices are the head-and-shoulder region.
UPPER_BODY_JOINTS: tuple[int, ...] = (6, 9, 12, 13, 14, 15, 16, 17)

#: Canonical mean pose of the authors' code, as Euler angles [z, y, x] in radians per
#: pose joint. Joints 15-17 compose ``R_given @ R_canonical``; 12-14 have identity.
CANONICAL_EULERS: dict[int, tuple[float, float, float]] = {
    15: (0.0, 0.0, 0.1554),  # head pitched +0.1554 rad about x
    16: (-1.05, 0.0, 0.13),  # left arm lowered ~60 deg (about z), slightly forward (x)
    17: (1.05, 0.0, 0.13),  # right arm, mirrored
}

#: Documented input ranges, validated at the boundary (``BodyModel.forward``).
MAX_ABS_EULER = math.pi  # radians; wider angles are ambiguous (wrap-around)
MAX_ABS_BETA = 5.0  # standard deviations of the shape PCA


def euler_zyx_to_matrix(eulers: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``Rz(a0) @ Ry(a1) @ Rx(a2)`` from Euler angles stored ``[a0, a1, a2]``.

    Args:
        eulers: ``[..., 3]`` angles in radians.
    Returns:
        ``[..., 3, 3]`` rotation matrices.
    """
    a, b, c = eulers.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    # Product Rz(a) Ry(b) Rx(c) written out (standard closed form).
    rows = (
        (ca * cb, ca * sb * sc - sa * cc, ca * sb * cc + sa * sc),
        (sa * cb, sa * sb * sc + ca * cc, sa * sb * cc - ca * sc),
        (-sb, cb * sc, cb * cc),
    )
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def matrix_to_euler_zyx(rot: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`euler_zyx_to_matrix` (a1 in [-pi/2, pi/2]).

    Args:
        rot: ``[..., 3, 3]`` rotation matrices.
    Returns:
        ``[..., 3]`` Euler angles ``[a0, a1, a2]`` in radians.
    """
    a1 = torch.asin((-rot[..., 2, 0]).clamp(-1.0, 1.0))
    a0 = torch.atan2(rot[..., 1, 0], rot[..., 0, 0])
    a2 = torch.atan2(rot[..., 2, 1], rot[..., 2, 2])
    return torch.stack([a0, a1, a2], -1)
