"""Hub-loadable assemblies (diffusers ``ModelMixin, ConfigMixin`` components) and presets.

May import: ``body``.
"""

from aniportrait_hub.models.body_assets import BodyFaceAssets
from aniportrait_hub.models.presets import PRESETS, preset

__all__ = ["PRESETS", "BodyFaceAssets", "preset"]
