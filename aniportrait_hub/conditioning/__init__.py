"""Latent codes, label-dictionary priors and mapping networks (METHOD.md 1.2-1.3).

May import: nothing of the package (the lowest layer, beside body).
"""

from aniportrait_hub.conditioning.mapping import FiLMMapping, FiLMParams
from aniportrait_hub.conditioning.priors import LabelPriors

__all__ = ["FiLMMapping", "FiLMParams", "LabelPriors"]
