"""The Hub pipeline ``AniPortraitGAN`` and driving sequences.

May import: the library under it (``body``, ``conditioning``, ``deformation``, ``fields``,
``rendering``, ``models``, ``pretrained``) and ``export`` (``export_gltf``); never ``inversion``,
``tracking``, ``evaluation`` or ``commands`` (a personal model's format is :mod:`.personal`).
"""

from aniportrait_hub.pipelines.animation import DrivingSequence, sequence_from_authors_files
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN, AniPortraitOutput, PortraitLatents

__all__ = ["AniPortraitGAN", "AniPortraitOutput", "DrivingSequence", "PortraitLatents", "sequence_from_authors_files"]
