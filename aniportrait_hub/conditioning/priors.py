"""Label-dictionary priors (METHOD.md 1.2): sampling latent codes like the paper.

At inference the paper draws identity, expression and camera + pose from dictionaries of labels
estimated on the training set (whole rows, so correlations are kept), scales the pose by 0.5-0.7
and draws the appearance noise eps ~ N(0, I). This component stores those rows; a dataset
(issue: datasets) computes them. ``LabelPriors.synthetic`` makes an explicit stand-in from
simple distributions for untrained models and tests.
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class LabelPriors(ModelMixin, ConfigMixin):
    """Rows of labels: face identity [N, K], betas [N, 10], expression [N, E], joint Euler
    angles [N, 6, 3] and camera [N, 2] (pitch, yaw). Sampling draws whole rows.

    Args:
        num_rows / id_dim / exp_dim: table sizes.
        pose_scale: factor applied to sampled joint angles (reference uses 0.5-0.7; we default
            to the middle, 0.6).
        noise_dim: size of eps (reference 80).
        source: where the rows came from (a dataset name, or "synthetic").
    """

    @register_to_config
    def __init__(self, num_rows: int = 1024, id_dim: int = 80, exp_dim: int = 52, pose_scale: float = 0.6,
                 noise_dim: int = 80, source: str = "synthetic"):
        super().__init__()
        self.register_buffer("face_id", torch.zeros(num_rows, id_dim))
        self.register_buffer("betas", torch.zeros(num_rows, 10))
        self.register_buffer("expression", torch.zeros(num_rows, exp_dim))
        self.register_buffer("joint_eulers", torch.zeros(num_rows, 6, 3))
        self.register_buffer("camera", torch.full((num_rows, 2), math.pi / 2))

    @classmethod
    def synthetic(cls, num_rows: int = 1024, id_dim: int = 80, exp_dim: int = 52, seed: int = 0) -> "LabelPriors":
        """Stand-in rows from simple distributions (our choice, until a dataset provides real
        ones): identity and shape ~ N(0, 0.5^2), sparse non-negative expressions (~10% of the
        units active), joint angles ~ N(0, 0.15^2) rad, camera ~ frontal +- N(0, 0.1^2)."""
        g = torch.Generator().manual_seed(seed)
        p = cls(num_rows, id_dim, exp_dim, source="synthetic")
        p.face_id.copy_(torch.randn(num_rows, id_dim, generator=g) * 0.5)
        p.betas.copy_(torch.randn(num_rows, 10, generator=g) * 0.5)
        active = torch.rand(num_rows, exp_dim, generator=g) < 0.1
        p.expression.copy_(torch.rand(num_rows, exp_dim, generator=g) * 0.6 * active)
        p.joint_eulers.copy_(torch.randn(num_rows, 6, 3, generator=g) * 0.15)
        p.camera.copy_(math.pi / 2 + torch.randn(num_rows, 2, generator=g) * 0.1)
        return p

    def _rows(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(0, self.face_id.shape[0], (n,), generator=generator)

    def sample_identity(self, n: int, generator: torch.Generator | None = None):
        """(face_id [n, K], betas [n, 10], noise [n, noise_dim])."""
        rows = self._rows(n, generator)
        noise = torch.randn(n, self.config.noise_dim, generator=generator)
        return self.face_id[rows], self.betas[rows], noise.to(self.face_id)

    def sample_expression(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.expression[self._rows(n, generator)]

    def sample_pose_camera(self, n: int, generator: torch.Generator | None = None):
        """(joint_eulers [n, 6, 3] scaled by ``pose_scale``, camera [n, 2]) from the same rows."""
        rows = self._rows(n, generator)
        return self.joint_eulers[rows] * self.config.pose_scale, self.camera[rows]
