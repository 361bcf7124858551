"""Cameras, rays, ray-manifold intersection, compositing, radiance-map baking, super-resolution
and the renderer that chains them (METHOD.md 1.3-1.5).

May import: ``body``, ``conditioning``, ``deformation``, ``fields``, ``data`` (canonical
surfaces, ray casting) and ``host``; never ``models`` or ``pipelines``.
"""

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
