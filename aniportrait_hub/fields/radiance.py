"""Radiance generator phi (GRAM / GRAM-HD; METHOD.md 1.3): (x, z_id, eps, view dir) ->
(colour, opacity, features), a FiLM-SIREN modulated by a mapping of [z_id, eps].

Reference sizes: mapping 160-256-256-256, 8 FiLM layers of width 256, multi-head opacity (a
linear head on every FiLM layer, outputs summed), a colour FiLM layer taking the view
direction, and 32 extra feature channels that feed the super-resolution network.
"""

from __future__ import annotations

import dataclasses

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from aniportrait_hub.conditioning.mapping import FiLMMapping, FiLMParams
from aniportrait_hub.fields.siren import FiLMSiren


@dataclasses.dataclass
class RadianceOutput:
    """phi at N points: rgb [B, N, 3] in [0, 1], sigma [B, N] (raw), features [B, N, F]."""

    rgb: torch.Tensor
    sigma: torch.Tensor
    features: torch.Tensor


class RadianceGenerator(ModelMixin, ConfigMixin):
    """phi. ``mapping(z)`` once per identity, then ``forward(points, view_dirs, film)``.

    Args:
        z_dim: size of [z_id (face identity), eps] (reference 80 + 80).
        hidden / num_layers: FiLM-SIREN width and depth (reference 256 x 8).
        mapping_hidden / mapping_depth: mapping MLP (reference 256 x 3).
        feature_channels: extra channels baked into the maps for U (reference 32).
        sigma_scale / sigma_bias: the raw opacity (sum of the heads) is ``sigma_scale * raw +
            sigma_bias`` (our choice; reference 1, 0). A solid surface needs sigma ~ 100
            (alpha = 1 - exp(-0.04 softplus(sigma))), which SIREN heads starting near 0 climb
            towards slowly; a scale lets a raw output of +-2 span empty to opaque.
        input_scale: canonical points are multiplied by this before the first layer (our
            choice; reference 1). Our canonical space is in metres (the bake window is 0.44 wide),
            so with SIREN's first-layer init the trunk starts with wavelengths of about 0.6 m and
            has to grow its weights to draw eyes and lips; a scale of ~4.5 maps the window to
            [-1, 1], the range SIREN's initialisation is designed for.
    """

    @register_to_config
    def __init__(self, z_dim: int = 160, hidden: int = 256, num_layers: int = 8, mapping_hidden: int = 256,
                 mapping_depth: int = 3, feature_channels: int = 32, sigma_scale: float = 1.0,
                 sigma_bias: float = 0.0, input_scale: float = 1.0):
        super().__init__()
        self.layers = nn.ModuleList(
            [FiLMSiren(3 if i == 0 else hidden, hidden, first=i == 0) for i in range(num_layers)])
        self.sigma_heads = nn.ModuleList([nn.Linear(hidden, 1) for _ in range(num_layers)])
        self.color_layer = FiLMSiren(hidden + 3, hidden)
        self.color_head = nn.Linear(hidden, 3 + feature_channels)
        self.mapping_net = FiLMMapping(z_dim, mapping_hidden, mapping_depth, num_layers + 1, hidden)

    def mapping(self, z: torch.Tensor) -> FiLMParams:
        """z [B, z_dim] -> FiLM parameters [B, num_layers + 1, hidden]."""
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"radiance latent must be [B, {self.config.z_dim}], got {tuple(z.shape)}")
        film = self.mapping_net(z.to(self.dtype))
        return FiLMParams(film.freqs.to(z.dtype), film.phases.to(z.dtype))

    def forward(self, points: torch.Tensor, view_dirs: torch.Tensor, film: FiLMParams) -> RadianceOutput:
        """points, view_dirs [B, N, 3] -> :class:`RadianceOutput` (in the points' dtype)."""
        out_dtype, dt = points.dtype, self.dtype
        film = FiLMParams(film.freqs.to(dt), film.phases.to(dt))
        points, view_dirs = points.to(dt), view_dirs.to(dt)
        h = points * self.config.input_scale if self.config.input_scale != 1.0 else points
        sigma = points.new_zeros(points.shape[:-1])
        # 1. FiLM-SIREN trunk; every layer adds its opacity head (multi-head, summed).
        for i, (layer, head) in enumerate(zip(self.layers, self.sigma_heads)):
            h = layer(h, film.freqs[:, i], film.phases[:, i])
            sigma = sigma + head(h).squeeze(-1)
        # 2. View-dependent colour and features.
        c = self.color_layer(torch.cat([h, view_dirs], -1), film.freqs[:, -1], film.phases[:, -1])
        out = self.color_head(c).to(out_dtype)
        sigma = sigma * self.config.sigma_scale + self.config.sigma_bias
        return RadianceOutput(torch.sigmoid(out[..., :3]), sigma.to(out_dtype), out[..., 3:])
