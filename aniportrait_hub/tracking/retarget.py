"""Driver -> target: relative motion, a driving multiplier and per-driver neutral calibration
(issue: video driving).

A driver's own face and pose are not the target's: a person whose rest face already reads a
little smile or squint would otherwise pass it on, and a driver filmed turned 10 deg would turn
the portrait 10 deg for the whole clip. So:

- **neutral calibration**: the driver's rest expression is the per-unit median of its first
  ``neutral_frames`` frames, and is subtracted from every frame;
- **multiplier**: the calibrated expression is scaled (``multiplier`` > 1 exaggerates);
- **relative motion**: each joint's rotation relative to the driver's first frame,
  R_t R_0^-1, is applied on top of the target's own rotation (composed as rotations, not by
  adding Euler angles), and the camera moves by the driver's change of camera angles;
- the target's own expression is added back, and units of a [0, 1] basis (ARKit) are clipped
  to it.
"""

from __future__ import annotations

import torch

from aniportrait_hub.body.conventions import euler_zyx_to_matrix, matrix_to_euler_zyx
from aniportrait_hub.pipelines.animation import DrivingSequence

#: Expression bases whose coefficients are activations in [0, 1].
UNIT_INTERVAL_BASES = ("arkit52",)


def neutral_expression(expression: torch.Tensor, frames: int) -> torch.Tensor:
    """[E] the per-unit median of the first ``frames`` rows of ``expression`` [T, E]."""
    if frames < 1:
        raise ValueError(f"neutral_frames must be >= 1, got {frames}")
    return expression[:frames].median(0).values


def retarget(seq: DrivingSequence, *, relative: bool = True, multiplier: float = 1.0, neutral_frames: int = 0,
             target_expression: torch.Tensor | None = None, target_joint_eulers: torch.Tensor | None = None,
             target_camera: torch.Tensor | None = None) -> DrivingSequence:
    """The sequence that drives the target with ``seq``'s motion.

    Args:
        relative: joints and camera relative to ``seq``'s first frame, on top of the target's
            (False: ``seq``'s absolute pose and camera).
        multiplier: scale of the (calibrated) expression, in [0, 5].
        neutral_frames: 0 = no calibration; n = subtract the median of the first n frames.
        target_expression [E], target_joint_eulers [6, 3], target_camera [2]: the target's own
            expression, pose and camera (default: zero expression and pose, ``seq``'s first
            camera).
    """
    if not 0 <= multiplier <= 5:
        raise ValueError(f"multiplier {multiplier} outside [0, 5]")
    exp = seq.expression.clone()
    e_dim = exp.shape[1]
    if neutral_frames:
        exp = exp - neutral_expression(exp, neutral_frames)
    exp = exp * multiplier
    if target_expression is not None:
        if target_expression.shape != (e_dim,):
            raise ValueError(f"target_expression must be [{e_dim}], got {tuple(target_expression.shape)}")
        exp = exp + target_expression
    if seq.expression_basis in UNIT_INTERVAL_BASES:
        exp = exp.clamp(0, 1)
    eul, cam = seq.joint_eulers, seq.camera
    if relative:
        base = torch.zeros(6, 3) if target_joint_eulers is None else target_joint_eulers
        if base.shape != (6, 3):
            raise ValueError(f"target_joint_eulers must be [6, 3], got {tuple(base.shape)}")
        r = euler_zyx_to_matrix(eul.double())  # [T, 6, 3, 3]
        rel = r @ r[:1].transpose(-1, -2)
        eul = matrix_to_euler_zyx(rel @ euler_zyx_to_matrix(base.double())).to(seq.joint_eulers.dtype)
        start = cam[0] if target_camera is None else target_camera
        if start.shape != (2,):
            raise ValueError(f"target_camera must be [2], got {tuple(start.shape)}")
        cam = cam - cam[:1] + start
    return DrivingSequence(exp, eul.contiguous(), cam.contiguous(), seq.fps, seq.expression_basis)
