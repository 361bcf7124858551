"""Cameras, rays, ray-manifold intersection, compositing, radiance-map baking, super-resolution
and the renderer that chains them (METHOD.md 1.3-1.5)."""

from aniportrait_hub.rendering.renderer import (
    FieldGrid,
    IdentityCache,
    PortraitRenderer,
    RenderOutput,
    RenderSettings,
)
from aniportrait_hub.rendering.superres import ManifoldSuperResolution

__all__ = ["FieldGrid", "IdentityCache", "ManifoldSuperResolution", "PortraitRenderer", "RenderOutput",
           "RenderSettings"]
