"""FiLM-SIREN layers (pi-GAN; used by GRAM, GRAM-HD and AniFaceGAN; METHOD.md 1.3).

A layer computes ``sin(freq * (W x + b) + phase)`` with per-sample frequencies and phases
produced by a mapping network (:mod:`aniportrait_hub.conditioning.mapping`). Initialisation as
in the reference code: the first layer ``U(-1/n, 1/n)``, later layers
``U(-sqrt(6/n)/25, sqrt(6/n)/25)`` (n = fan-in); the 1/25 accounts for frequencies around 30.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def siren_init_(layer: nn.Linear, first: bool) -> None:
    """In-place SIREN initialisation of ``layer``'s weight (bias keeps PyTorch's default)."""
    n = layer.in_features
    bound = 1.0 / n if first else math.sqrt(6.0 / n) / 25.0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)


class FiLMSiren(nn.Module):
    """One FiLM-modulated sine layer.

    Shapes: x [B, N, in] -> [B, N, out]; freq and phase [B, out].
    """

    def __init__(self, in_dim: int, out_dim: int, first: bool = False):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        siren_init_(self.linear, first)

    def forward(self, x: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        return torch.sin(freq.unsqueeze(1) * self.linear(x) + phase.unsqueeze(1))
