"""Pose deformer D^p (METHOD.md 1.4, Eq. 4-5 and 11).

Nearest-vertex skinning tears long hair when the head turns; D^p smooths the per-point 4x4
transforms, arranged as a field [B, 16, D, H, W] over the ray samples (D along the ray, H x W
rays), with a learnt depthwise 3D filter (reference code): on a 2x-subsampled grid, a depthwise
conv of kernel 5 x 9 x 9, trilinear upsampling x2, and a second such conv. Kernels are kept
normalised to sum 1 (a weighted average of transforms) and start as box filters; no bias, no
activation. Borders are padded by replication so that a constant field stays constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PoseDeformer(ModelMixin, ConfigMixin):
    """D^p: transforms [B, 16, D, H, W] -> smoothed transforms of the same shape.

    Args:
        kernel: (depth, height, width) of both depthwise kernels (reference (5, 9, 9)).
        channels: transform entries smoothed (16: a flattened 4x4).
    """

    @register_to_config
    def __init__(self, kernel: tuple[int, int, int] = (5, 9, 9), channels: int = 16):
        super().__init__()
        k = tuple(kernel)
        if any(v % 2 == 0 for v in k):
            raise ValueError(f"kernel sizes must be odd, got {k}")
        self.weight1 = nn.Parameter(torch.ones(channels, 1, *k))
        self.weight2 = nn.Parameter(torch.ones(channels, 1, *k))

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        k = weight.shape[2:]
        w = weight / weight.sum(dim=(2, 3, 4), keepdim=True)  # normalised: sums to 1
        pad = (k[2] // 2, k[2] // 2, k[1] // 2, k[1] // 2, k[0] // 2, k[0] // 2)
        return F.conv3d(F.pad(x, pad, mode="replicate"), w, groups=x.shape[1])

    def forward(self, transforms: torch.Tensor) -> torch.Tensor:
        """transforms [B, 16, D, H, W] -> [B, 16, D, H, W]."""
        if transforms.dim() != 5 or transforms.shape[1] != self.config.channels:
            raise ValueError(f"transforms must be [B, {self.config.channels}, D, H, W], got {tuple(transforms.shape)}")
        size, in_dtype = transforms.shape[2:], transforms.dtype
        transforms = transforms.to(self.dtype)
        # 1. 2x-subsampled grid (average of 2x2x2 cells; odd sizes keep their last cell).
        low = F.avg_pool3d(transforms, 2, ceil_mode=True, count_include_pad=False)
        # 2. Smooth, 3. upsample back, 4. smooth again.
        low = self._conv(low, self.weight1)
        up = F.interpolate(low, size=size, mode="trilinear", align_corners=False)
        return self._conv(up, self.weight2).to(in_dtype)
