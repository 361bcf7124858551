"""Manifold predictor M (GRAM; METHOD.md 1.3): canonical point -> scalar s; the radiance
manifolds are the iso-surfaces of s at fixed levels (reference: 24 levels, linspace(23, 8)).

s grows away from the centre, so a ray entering the volume crosses the levels going down
(outermost level first). Initialisation (our choice, named ``init_scale``): the MLP starts as
``init_scale * |x|`` (sphere initialisation of Atzmon & Lipman for ReLU MLPs), i.e. concentric
spheres at radii ``level / init_scale``.
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class ManifoldPredictor(ModelMixin, ConfigMixin):
    """M: x [B, N, 3] -> s [B, N]. Reference: 3-128-128-128-1, ReLU.

    Args:
        hidden: MLP width. depth: hidden layers.
        num_levels / level_start / level_end: the iso-levels, ``linspace(start, end, num)``.
        init_scale: s at initialisation is ``init_scale * |x|`` (our choice: levels 23..8 start
            as spheres of radius 0.33..0.11 world units, around head and shoulders).
    """

    @register_to_config
    def __init__(self, hidden: int = 128, depth: int = 3, num_levels: int = 24, level_start: float = 23.0,
                 level_end: float = 8.0, init_scale: float = 70.0):
        super().__init__()
        dims = [3] + [hidden] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            lin = nn.Linear(a, b)
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0) / math.sqrt(b))
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.ReLU()]
        last = nn.Linear(hidden, 1)
        nn.init.normal_(last.weight, math.sqrt(math.pi) / math.sqrt(hidden), 1e-5)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.register_buffer("levels", torch.linspace(level_start, level_end, num_levels), persistent=False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """points [..., 3] -> s [...] (computed in the module's dtype, returned in the input's)."""
        return (self.net(points.to(self.dtype)).squeeze(-1) * self.config.init_scale).to(points.dtype)
