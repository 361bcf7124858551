"""Face-coefficient estimator: face-camera image -> 3DMM identity and expression coefficients.

The landmark loss (METHOD.md 1.6, Eq. 9) compares the 3DMM landmarks of the coefficients a
generated face was asked for with those of the coefficients a face reconstruction network reads
back from the generated face-camera image. The paper uses Deep3DFaceRecon (BFM); our default is
this small CNN, trained on synthetic face-camera renders of the open body whose true coefficients
are known (``train/face_estimator.py``). Anything with the same call (images [B, 3, H, W] in
[0, 1] -> :class:`FaceCoefficients` in the generator's face basis) can take its place.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


@dataclasses.dataclass
class FaceCoefficients:
    identity: torch.Tensor
    """[B, K]."""
    expression: torch.Tensor
    """[B, E]."""


class FaceCoefficientEstimator(ModelMixin, ConfigMixin):
    """Strided 3x3 convs (GroupNorm, LeakyReLU) and a linear head on the last feature map.

    Args:
        id_dim / exp_dim: coefficient sizes of the face model it reads.
        resolution: input side the images are resized to.
        channels: widths of the stride-2 stages.
        bounded_expression: expression units live in [0, 1] (ARKit); a sigmoid keeps them there.
        basis_name: the face model's expression basis (checked against the generator's).
        spatial_head: the head reads the whole last feature map (where the mouth and eyes are),
            not its global average.
    """

    @register_to_config
    def __init__(self, id_dim: int = 80, exp_dim: int = 52, resolution: int = 64,
                 channels: tuple[int, ...] = (32, 64, 128, 256), bounded_expression: bool = True,
                 basis_name: str = "arkit52", spatial_head: bool = True):
        super().__init__()
        layers, cin = [], 3
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.GroupNorm(8, c), nn.LeakyReLU(0.2),
                       nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(8, c), nn.LeakyReLU(0.2)]
            cin = c
        self.features = nn.Sequential(*layers)
        side = resolution // 2 ** len(channels)
        self.head = nn.Linear(cin * side * side if spatial_head else cin, id_dim + exp_dim)
        if bounded_expression:  # start with (near) neutral faces, as most are: sigmoid(-4) = 0.018
            with torch.no_grad():
                self.head.bias[id_dim:] = -4.0

    def forward(self, images: torch.Tensor) -> FaceCoefficients:
        """images [B, 3, H, W] in [0, 1] -> coefficients."""
        cfg = self.config
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"face images must be [B, 3, H, W], got {tuple(images.shape)}")
        x = images.to(self.dtype)
        if x.shape[-1] != cfg.resolution or x.shape[-2] != cfg.resolution:
            x = F.interpolate(x, size=(cfg.resolution, cfg.resolution), mode="bilinear", align_corners=False,
                              antialias=True)
        h = self.features(x * 2 - 1)
        h = h.flatten(1) if cfg.spatial_head else h.mean((2, 3))
        out = self.head(h).to(images.dtype)
        exp = out[:, cfg.id_dim:]
        return FaceCoefficients(out[:, :cfg.id_dim], torch.sigmoid(exp) if cfg.bounded_expression else exp)


def landmark_loss(face_model, identity: torch.Tensor, expression: torch.Tensor, estimated: FaceCoefficients,
                  unit: float = 0.01) -> torch.Tensor:
    """Eq. 9: mean squared distance between the 3DMM landmarks of (identity, expression) and of
    the estimated coefficients, in units of ``unit`` metres (1 cm: our choice of scale)."""
    target = face_model(identity, expression).landmarks
    est = face_model(estimated.identity, estimated.expression).landmarks
    return ((target - est) / unit).pow(2).sum(-1).mean()
