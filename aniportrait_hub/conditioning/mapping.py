"""Mapping networks: latent codes -> FiLM frequencies and phases (pi-GAN style; METHOD.md 1.3).

``z [B, Z] -> MLP with LeakyReLU(0.2) -> [B, 2 * L * C]``, split into frequencies and phases
of L FiLM layers of width C. Frequencies are ``15 f + 30`` (reference code).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass
class FiLMParams:
    """FiLM modulation of L layers of width C: ``freqs`` and ``phases`` [B, L, C]; ``warp``
    [B, 4] an optional per-identity warp of phi's feature plane (see
    :class:`~aniportrait_hub.fields.radiance.RadianceGenerator`), carried with the modulation;
    ``coefficients`` [B, K] optional weights of a network's linear basis (D^e's expression basis,
    :class:`~aniportrait_hub.deformation.expression_deformer.ExpressionDeformer`); ``guide`` an
    optional per-frame object indexable by batch (D^e's face-model guide,
    :class:`~aniportrait_hub.deformation.expression_deformer.ExpressionGuide`)."""

    freqs: torch.Tensor
    phases: torch.Tensor
    warp: torch.Tensor | None = None
    coefficients: torch.Tensor | None = None
    guide: object | None = None

    def lerp_to(self, mean: "FiLMParams", psi: float) -> "FiLMParams":
        """Truncation: ``mean + psi * (self - mean)`` on frequencies and phases (the warp, a
        function of the identity's shape, is kept: the body is not truncated)."""
        return FiLMParams(torch.lerp(mean.freqs, self.freqs, psi), torch.lerp(mean.phases, self.phases, psi),
                          self.warp, self.coefficients, self.guide)

    def __getitem__(self, index) -> "FiLMParams":
        """The modulation of a batch slice (``film[i:i + 1]``)."""
        def part(t):
            return None if t is None else t[index]

        return FiLMParams(self.freqs[index], self.phases[index], part(self.warp), part(self.coefficients),
                          part(self.guide))


class FiLMMapping(nn.Module):
    """MLP from a latent code to FiLM parameters.

    Args:
        in_dim: latent size Z. hidden: MLP width. depth: hidden layers.
        num_layers / width: L FiLM layers of width C to modulate.
    """

    def __init__(self, in_dim: int, hidden: int, depth: int, num_layers: int, width: int):
        super().__init__()
        dims = [in_dim] + [hidden] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        out = nn.Linear(dims[-1], 2 * num_layers * width)
        layers.append(out)
        self.net = nn.Sequential(*layers)
        self.num_layers, self.width = num_layers, width
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        with torch.no_grad():
            out.weight.mul_(0.25)

    def forward(self, z: torch.Tensor) -> FiLMParams:
        """z [B, Z] -> FiLMParams with [B, L, C] frequencies (15 f + 30) and phases."""
        out = self.net(z).view(z.shape[0], 2, self.num_layers, self.width)
        return FiLMParams(out[:, 0] * 15.0 + 30.0, out[:, 1])
