"""StyleGAN2-style residual discriminators (METHOD.md 1.5: D_whole, D_face, D_torso).

The "resnet" architecture of StyleGAN2: from-RGB 1x1 conv, then per resolution a block of two
3x3 convs (the second one downsampling) with a 1x1 downsampling skip, summed with weight
sqrt(1/2); at 4 rows, the minibatch-standard-deviation feature, a 3x3 conv, a fully connected
layer and the output. Channels per block are ``min(channel_max, channel_base / rows)``.

Our choices (named config arguments): downsampling is 2x2 average pooling (StyleGAN2 blurs with
a [1, 3, 3, 1] filter first); groups of the minibatch-std feature are consecutive samples; weights use the equalised learning rate of StyleGAN (unit-normal
weights scaled at run time); images may be wider than tall (``aspect``: D_torso sees the lower
quarter of the portrait, 1 x 4); conditioning on the camera is optional (``camera_dim`` > 0:
projection discriminator, as EG3D conditions on camera parameters).

Inputs are images in [0, 1] (as the renderer returns them), mapped to [-1, 1] inside.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate: weights ~ N(0, 1), scaled by 1/sqrt(fan_in) at run time."""

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1 / math.sqrt(cin * kernel * kernel)
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate."""

    def __init__(self, cin: int, cout: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)  # StyleGAN's gain keeps the activation scale


class ResBlock(nn.Module):
    """Two 3x3 convs (second one after 2x downsampling) plus a 1x1 downsampling skip."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = EqualConv2d(cin, cin, 3)
        self.conv1 = EqualConv2d(cin, cout, 3)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        x = _act(self.conv0(x))
        x = _act(self.conv1(F.avg_pool2d(x, 2)))
        return (x + y) * math.sqrt(0.5)


class PortraitDiscriminator(ModelMixin, ConfigMixin):
    """Args:
        resolution: image rows (a power of two, >= 8).
        aspect: columns / rows (1 for portrait and face images, 4 for the torso strip).
        channel_base / channel_max: channels of a block = min(channel_max, channel_base // rows).
        mbstd_group: minibatch-std group size (clipped to the batch).
        camera_dim: 0 for an unconditioned discriminator; else the size of the camera label
            ([pitch, yaw] = 2), embedded and projected onto the output features.
        cmap_dim: size of that projection.
    """

    @register_to_config
    def __init__(self, resolution: int = 128, aspect: int = 1, channel_base: int = 16384, channel_max: int = 256,
                 mbstd_group: int = 4, camera_dim: int = 0, cmap_dim: int = 128):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        ch = lambda rows: min(channel_max, channel_base // rows)
        self.from_rgb = EqualConv2d(3, ch(resolution), 1)
        blocks, rows = [], resolution
        while rows > 4:
            blocks.append(ResBlock(ch(rows), ch(rows // 2)))
            rows //= 2
        self.blocks = nn.ModuleList(blocks)
        c4 = ch(4)
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = EqualLinear(c4 * 4 * 4 * aspect, c4)
        self.out = EqualLinear(c4, cmap_dim if camera_dim else 1)
        self.camera_embed = None
        if camera_dim:
            self.camera_embed = nn.Sequential(EqualLinear(2 * camera_dim, cmap_dim), nn.LeakyReLU(0.2),
                                              EqualLinear(cmap_dim, cmap_dim))

    def forward(self, image: torch.Tensor, camera: torch.Tensor | None = None) -> torch.Tensor:
        """image [B, 3, H, W] in [0, 1] (H = resolution, W = aspect * H) -> logits [B]."""
        cfg = self.config
        b, c, h, w = image.shape
        if c != 3 or h != cfg.resolution or w != cfg.resolution * cfg.aspect:
            raise ValueError(f"expected images [B, 3, {cfg.resolution}, {cfg.resolution * cfg.aspect}], "
                             f"got {tuple(image.shape)}")
        # 1. From RGB and the residual blocks down to 4 rows.
        x = _act(self.from_rgb(image * 2 - 1))
        for block in self.blocks:
            x = block(x)
        # 2. Minibatch standard deviation (one feature map), conv, fully connected, output.
        # Groups are runs of consecutive samples (StyleGAN2 strides them), so a batch split
        # across processes into multiples of the group size keeps the same groups.
        g = min(cfg.mbstd_group, b)
        while b % g:
            g -= 1
        y = x.view(-1, g, *x.shape[1:])  # [B/G, G, C, 4, 4A]
        y = (y.var(1, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # [B/G]
        y = y.repeat_interleave(g).view(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])  # [B, 1, 4, 4A]
        x = _act(self.conv(torch.cat([x, y], 1)))
        x = _act(self.fc(x.flatten(1)))
        out = self.out(x)
        # 3. Camera projection (conditioned) or the single logit.
        if self.camera_embed is None:
            return out[:, 0]
        if camera is None:
            raise ValueError("this discriminator is conditioned on the camera; pass camera [B, 2]")
        emb = torch.cat([camera.sin(), camera.cos()], -1).to(out.dtype)
        cmap = self.camera_embed(emb)
        return (out * cmap).sum(1) / math.sqrt(cfg.cmap_dim)
