"""Radiance generator phi (GRAM / GRAM-HD; METHOD.md 1.3): (x, z_id, eps, view dir) ->
(colour, opacity, features), a FiLM-SIREN modulated by a mapping of [z_id, eps].

Reference sizes: mapping 160-256-256-256, 8 FiLM layers of width 256, multi-head opacity (a
linear head on every FiLM layer, outputs summed), a colour FiLM layer taking the view
direction, and 32 extra feature channels that feed the super-resolution network.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
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


def window_grid(x: torch.Tensor, y: torch.Tensor, x_range, y_range) -> torch.Tensor:
    """Canonical (x, y) in a window ``x_range`` x ``y_range`` -> ``grid_sample`` coordinates
    [..., 2] in [-1, 1] (the one convention of phi's plane and the baked maps' lookups)."""
    return torch.stack([(x - x_range[0]) / (x_range[1] - x_range[0]), (y - y_range[0]) / (y_range[1] - y_range[0])],
                       -1) * 2 - 1


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
        plane_resolution / plane_channels / plane_range: a learned feature plane over canonical
            (x, y) (``plane_channels`` x ``plane_resolution``^2 over ``plane_range`` = (x0, x1,
            y0, y1), bilinear, ``align_corners=True``), shared by all identities and fed to the
            colour layer beside the trunk's features and the view direction (our choice, not in
            the method; 0 = none, the reference). The SIREN trunk learns body-scale colour in
            minutes but after 2.5 CPU hours of teacher supervision still drew no eyes, lids or
            lips: a plane gives the FiLM-modulated colour layer sharp positional features (the
            x-y plane of a tri-plane, but one for everybody; identity enters through the FiLM).
            Colour of a canonical surface point varies over (x, y), hardly along z, so one plane
            suffices; matching the bake grid (128^2 over the bake window) puts a cell on every
            texel. People's faces lie at different places and sizes in the canonical space, so
            the plane is read through a per-identity warp ``(x, y) -> (x e^a + c, y e^b + d)``
            whose (a, b, c, d) are a linear function of the latent (the buffer ``plane_warp``
            [z_dim + 1, 4], zero = no warp), set by whoever knows the geometry (the teacher
            fits it so the eyes and mouth of every body shape land on the same cells).
    """

    @register_to_config
    def __init__(self, z_dim: int = 160, hidden: int = 256, num_layers: int = 8, mapping_hidden: int = 256,
                 mapping_depth: int = 3, feature_channels: int = 32, sigma_scale: float = 1.0,
                 sigma_bias: float = 0.0, input_scale: float = 1.0, plane_resolution: int = 0,
                 plane_channels: int = 16, plane_range: tuple = (-0.22, 0.22, -0.248, 0.192)):
        super().__init__()
        if plane_resolution < 0 or (plane_resolution and (plane_resolution < 2 or plane_channels < 1)):
            raise ValueError(f"plane_resolution must be 0 or >= 2 with plane_channels >= 1, got "
                             f"{plane_resolution} / {plane_channels}")
        n_plane = plane_channels if plane_resolution else 0
        self.plane = (nn.Parameter(torch.zeros(1, plane_channels, plane_resolution, plane_resolution))
                      if plane_resolution else None)
        if plane_resolution:
            self.register_buffer("plane_warp", torch.zeros(z_dim + 1, 4))
        self.layers = nn.ModuleList(
            [FiLMSiren(3 if i == 0 else hidden, hidden, first=i == 0) for i in range(num_layers)])
        self.sigma_heads = nn.ModuleList([nn.Linear(hidden, 1) for _ in range(num_layers)])
        self.color_layer = FiLMSiren(hidden + 3 + n_plane, hidden)
        self.color_head = nn.Linear(hidden, 3 + feature_channels)
        self.mapping_net = FiLMMapping(z_dim, mapping_hidden, mapping_depth, num_layers + 1, hidden)

    def with_plane(self, resolution: int, channels: int, plane_range: tuple | None = None) -> "RadianceGenerator":
        """A copy of this (plane-less) phi with a feature plane added, rendering exactly as this
        one does (the plane starts at 0; the colour layer's new input columns get SIREN's
        initialisation so the plane receives gradients): warm-starts a trained phi."""
        if self.plane is not None:
            raise ValueError("this radiance generator already has a feature plane")
        cfg = dict(self.config)
        cfg.update(plane_resolution=resolution, plane_channels=channels)
        if plane_range is not None:
            cfg["plane_range"] = tuple(plane_range)
        new = RadianceGenerator(**{k: v for k, v in cfg.items() if not k.startswith("_")})
        state = self.state_dict()
        w_old = state["color_layer.linear.weight"]
        w_new = new.state_dict()["color_layer.linear.weight"].clone()
        w_new[:, :w_old.shape[1]] = w_old
        state["color_layer.linear.weight"] = w_new
        state["plane"] = new.plane.detach().clone()
        state["plane_warp"] = new.plane_warp.clone()
        new.load_state_dict(state)
        new = new.to(self.device)
        return new if new.dtype == self.dtype else new.to(dtype=self.dtype)

    def mapping(self, z: torch.Tensor) -> FiLMParams:
        """z [B, z_dim] -> FiLM parameters [B, num_layers + 1, hidden]."""
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"radiance latent must be [B, {self.config.z_dim}], got {tuple(z.shape)}")
        film = self.mapping_net(z.to(self.dtype))
        return FiLMParams(film.freqs.to(z.dtype), film.phases.to(z.dtype), self.warp_of(z))

    def warp_of(self, z: torch.Tensor) -> torch.Tensor | None:
        """The plane warps (a, b, c, d) [B, 4] of latents z [B, z_dim] (None without a plane)."""
        if self.plane is None:
            return None
        w = self.plane_warp.to(z.dtype)
        return z @ w[:-1] + w[-1]

    def plane_features(self, points: torch.Tensor, warp: torch.Tensor | None = None) -> torch.Tensor:
        """The feature plane at canonical points [B, N, 3], read through the identities' warps
        [B, 4] (None: none) -> [B, N, plane_channels] (border values outside ``plane_range``)."""
        x0, x1, y0, y1 = self.config.plane_range
        x, y = points[..., 0], points[..., 1]
        if warp is not None:
            w = warp.to(points.dtype)
            x = x * w[:, 0:1].exp() + w[:, 2:3]
            y = y * w[:, 1:2].exp() + w[:, 3:4]
        g = window_grid(x, y, (x0, x1), (y0, y1))
        plane = self.plane.to(points.dtype).expand(points.shape[0], -1, -1, -1)
        f = F.grid_sample(plane, g.unsqueeze(1), mode="bilinear", padding_mode="border", align_corners=True)
        return f[:, :, 0].transpose(1, 2)

    def forward(self, points: torch.Tensor, view_dirs: torch.Tensor, film: FiLMParams) -> RadianceOutput:
        """points, view_dirs [B, N, 3] -> :class:`RadianceOutput` (in the points' dtype)."""
        out_dtype, dt = points.dtype, self.dtype
        film = FiLMParams(film.freqs.to(dt), film.phases.to(dt), film.warp)
        points, view_dirs = points.to(dt), view_dirs.to(dt)
        h = points * self.config.input_scale if self.config.input_scale != 1.0 else points
        sigma = points.new_zeros(points.shape[:-1])
        # 1. FiLM-SIREN trunk; every layer adds its opacity head (multi-head, summed).
        for i, (layer, head) in enumerate(zip(self.layers, self.sigma_heads)):
            h = layer(h, film.freqs[:, i], film.phases[:, i])
            sigma = sigma + head(h).squeeze(-1)
        # 2. View-dependent colour and features.
        parts = [h, view_dirs] if self.plane is None else [h, view_dirs, self.plane_features(points, film.warp)]
        c = self.color_layer(torch.cat(parts, -1), film.freqs[:, -1], film.phases[:, -1])
        out = self.color_head(c).to(out_dtype)
        sigma = sigma * self.config.sigma_scale + self.config.sigma_bias
        return RadianceOutput(torch.sigmoid(out[..., :3]), sigma.to(out_dtype), out[..., 3:])
