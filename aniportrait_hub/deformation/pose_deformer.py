"""Pose deformer D^p (METHOD.md 1.4, Eq. 4-5 and 11).

Nearest-vertex skinning tears long hair when the head turns; D^p smooths the per-point 4x4
transforms, arranged as a field [B, 16, D, H, W] over the ray samples (D along the ray, H x W
rays), with a learnt depthwise 3D filter (reference code): on a 2x-subsampled grid, a depthwise
conv of kernel 5 x 9 x 9, trilinear upsampling x2, and a second such conv. Kernels are kept
normalised to sum 1 (a weighted average of transforms) and start as box filters; no bias, no
activation. Borders are padded by replication so that a constant field stays constant.

The convolutions' gradients on a CPU go through :class:`DepthwiseConv3d`: oneDNN's depthwise
conv3d backward was 36% of a default-model training step (22 of 61 s, the kernel's gradient);
the kernel's and the field's gradients are computed by FFT instead (a valid correlation and a
full convolution, exact in circular form at the padded field's size), 20-25x faster than oneDNN
at a training step's shapes and closer to a float64 reference (``benchmarks/cpu_step.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class DepthwiseConv3d(torch.autograd.Function):
    """``F.conv3d(x, w, groups=C)`` for a depthwise kernel (w [C, 1, kd, kh, kw]) with both
    gradients by FFT over x's spatial size S (the forward is PyTorch's own convolution):

    - kernel: grad_w[c, k] = sum_b sum_p x[b, c, p + k] grad[b, c, p], a correlation; its
      circular form at size S never wraps for k < kernel and p < S - kernel + 1;
    - field: grad_x[b, c] = grad[b, c] convolved (full) with w[c], whose length is exactly S.

    Hand-written because PyTorch has no FFT convolution to call; measured 20-25x faster than
    oneDNN's depthwise conv3d backward on a CPU at the default model's shapes, with a smaller
    error against float64."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return F.conv3d(x, w, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        size, dims = x.shape[2:], (2, 3, 4)
        g = torch.fft.rfftn(grad, s=size, dim=dims)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.fft.irfftn(g * torch.fft.rfftn(w[:, 0], s=size, dim=(1, 2, 3)), s=size, dim=dims)
        if ctx.needs_input_grad[1]:
            corr = torch.fft.irfftn((torch.fft.rfftn(x, s=size, dim=dims) * g.conj()).sum(0, keepdim=True),
                                    s=size, dim=dims)
            gw = corr[..., :w.shape[2], :w.shape[3], :w.shape[4]].transpose(0, 1).contiguous()
        return gx, gw


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

    #: Where the convolutions' backward goes through :class:`DepthwiseConv3d` (FFT, both
    #: gradients): "cpu" (measured faster there), "always", or "never" (PyTorch's own everywhere;
    #: cuDNN's depthwise backward is not known to be slow, and no GPU has measured the alternative).
    custom_backward = "cpu"

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        k = weight.shape[2:]
        w = weight / weight.sum(dim=(2, 3, 4), keepdim=True)  # normalised: sums to 1
        pad = (k[2] // 2, k[2] // 2, k[1] // 2, k[1] // 2, k[0] // 2, k[0] // 2)
        x = F.pad(x, pad, mode="replicate")
        mode = self.custom_backward
        backward = torch.is_grad_enabled() and (w.requires_grad or x.requires_grad)
        if backward and (mode == "always" or (mode == "cpu" and x.device.type == "cpu")):
            return DepthwiseConv3d.apply(x, w)
        return F.conv3d(x, w, groups=x.shape[1])

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
