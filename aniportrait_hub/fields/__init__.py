"""Neural fields: FiLM-SIREN, manifold predictor M, radiance generator phi (METHOD.md 1.3).

May import: ``conditioning``.
"""

from aniportrait_hub.fields.manifold import ManifoldPredictor
from aniportrait_hub.fields.radiance import RadianceGenerator, RadianceOutput
from aniportrait_hub.fields.siren import FiLMSiren

__all__ = ["FiLMSiren", "ManifoldPredictor", "RadianceGenerator", "RadianceOutput"]
