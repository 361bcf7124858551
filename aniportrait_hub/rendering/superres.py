"""Manifold super-resolution U (GRAM-HD; METHOD.md 1.3).

The 24 radiance maps of an identity ([rgb, alpha, features], 128^2 in the reference) are
upsampled to 512^2 once per identity: a first conv, RRDB blocks (ESRGAN), then per x2 stage a
style-modulated conv (StyleGAN2 modulation and demodulation) and a pixel shuffle; the style
comes from a mapping of [z_id, eps] (reference: 192). Every manifold's map goes through U with
the same weights (as a batch). Our choice, named ``residual``: U predicts a correction to the
bilinearly upsampled [rgb, alpha], its last conv zero-initialised, so an untrained U is a plain
upsampler and low- and high-resolution renders agree from the start.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class DenseBlock(nn.Module):
    """ESRGAN residual dense block: 5 convs with dense connections, scaled residual."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, padding=1) for i in range(5)])
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or self.convs[0].weight.requires_grad):
            # Training: concatenate (the in-place buffer below would overwrite saved activations).
            feats = [x]
            for conv in self.convs[:4]:
                feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
            return x + 0.2 * self.convs[4](torch.cat(feats, 1))
        # Inference: the dense connections write into one preallocated buffer instead of
        # concatenating (fewer large allocations; 2-4% faster on CPU here).
        n, c, h, w = x.shape
        gc = self.convs[0].out_channels
        buf = torch.empty(n, c + 4 * gc, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        buf[:, :c] = x
        for i, conv in enumerate(self.convs[:4]):
            buf[:, c + i * gc: c + (i + 1) * gc] = self.act(conv(buf[:, : c + i * gc]))
        return x + 0.2 * self.convs[4](buf)


class RRDB(nn.Module):
    """Residual-in-residual dense block (3 dense blocks)."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.blocks = nn.Sequential(DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated 3x3 conv: weights scaled per input channel by the style, then
    demodulated per output channel. All manifold maps of one identity share its style, so the
    modulated weight is computed once per identity and applied as a plain convolution (rather
    than StyleGAN2's grouped one: 5x faster here)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3) / math.sqrt(in_ch * 9))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.affine = nn.Linear(style_dim, in_ch)
        nn.init.zeros_(self.affine.weight)
        nn.init.ones_(self.affine.bias)

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """style [style_dim] -> weight [out, in, 3, 3]."""
        wgt = self.weight * self.affine(style)[None, :, None, None]
        return wgt * torch.rsqrt(wgt.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """x [N, in, H, W] of one identity, weight from :meth:`modulated_weight`."""
        return F.conv2d(x, weight, self.bias, padding=1)


class ManifoldSuperResolution(ModelMixin, ConfigMixin):
    """U: maps [B, L, C, h, w] + latent [B, z_dim] -> [B, L, 4, h*scale, w*scale] (rgb, alpha).

    Args:
        in_channels: 3 + 1 + feature channels of the baked maps (reference 36).
        nf / gc / num_rrdb: ESRGAN widths and depth (reference 64 / 32 / 4).
        scale: power-of-two upscaling (reference 4: 128 -> 512).
        z_dim / style_dim / mapping_hidden / mapping_depth: the style mapping of [z_id, eps].
        residual: predict a correction to the bilinear upsampling (our choice, see module doc).
        map_chunk: manifold maps pushed through U at once (a speed setting, not architecture:
            one at a time keeps the 512^2 activations in reach of the caches; 2x faster here
            than all 24 at once).
    """

    @register_to_config
    def __init__(self, in_channels: int = 36, nf: int = 64, gc: int = 32, num_rrdb: int = 4, scale: int = 4,
                 z_dim: int = 160, style_dim: int = 192, mapping_hidden: int = 256, mapping_depth: int = 2,
                 residual: bool = True, map_chunk: int = 1):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        dims = [z_dim] + [mapping_hidden] * mapping_depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.mapping_net = nn.Sequential(*layers, nn.Linear(dims[-1], style_dim))
        self.conv_first = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(num_rrdb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.up = nn.ModuleList([ModulatedConv2d(nf, nf * 4, style_dim) for _ in range(int(math.log2(scale)))])
        self.conv_last = nn.Conv2d(nf, 4, 3, padding=1)
        if residual:
            nn.init.zeros_(self.conv_last.weight)
            nn.init.zeros_(self.conv_last.bias)
        self.body.to(memory_format=torch.channels_last)  # oneDNN's preferred weight layout

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, z_dim] -> style [B, style_dim]."""
        return self.mapping_net(z.to(self.dtype)).to(z.dtype)

    def forward(self, maps: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """maps [B, L, C, h, w] (rgb, alpha, features), style [B, style_dim] -> [B, L, 4, H, W]."""
        b, n_lv, c, h, w = maps.shape
        k = self.config.scale
        in_dtype, maps, style = maps.dtype, maps.to(self.dtype), style.to(self.dtype)
        outs = []
        for i in range(b):
            weights = [conv.modulated_weight(style[i]) for conv in self.up]
            for x in maps[i].split(self.config.map_chunk):
                outs.append(self._upsample(x, weights))
        return torch.cat(outs).view(b, n_lv, 4, h * k, w * k).to(in_dtype)

    def _upsample(self, x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        """x [n, C, h, w] maps of one identity -> [n, 4, h*scale, w*scale]."""
        # 1. Features, 2. RRDB trunk with a long skip, 3. modulated upsampling stages, 4. output
        #    (+ bilinear base). Activations stay channels-last, oneDNN's fast layout on CPU
        #    (1.2x for U here).
        feat = self.conv_first(x.contiguous(memory_format=torch.channels_last))
        feat = feat + self.conv_body(self.body(feat))
        for conv, wgt in zip(self.up, weights):
            feat = F.leaky_relu(F.pixel_shuffle(conv(feat, wgt.contiguous(memory_format=torch.channels_last)), 2), 0.2)
        out = self.conv_last(feat).contiguous()
        if self.config.residual:
            out = out + F.interpolate(x[:, :4], scale_factor=self.config.scale, mode="bilinear", align_corners=False)
        return out.clamp(0.0, 1.0)
