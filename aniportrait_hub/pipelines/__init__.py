"""The Hub pipeline ``AniPortraitGAN`` and driving sequences."""

from aniportrait_hub.pipelines.animation import DrivingSequence, sequence_from_authors_files
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN, AniPortraitOutput, PortraitLatents

__all__ = ["AniPortraitGAN", "AniPortraitOutput", "DrivingSequence", "PortraitLatents", "sequence_from_authors_files"]
