"""Tracking real faces into driving data (issue: video driving).

May import: ``body``, ``data`` (the label fit), ``pipelines`` (driving sequences) and ``video``.
"""

from aniportrait_hub.tracking.blendshapes import (
    ARKIT_PREDICTED,
    FACE_LANDMARKER_SHA256,
    INPUT_ERRORS,
    BlendshapeReading,
    BlendshapeTracker,
    TrackingError,
    face_landmarker_path,
)
from aniportrait_hub.tracking.live import LiveReading, LiveTracker
from aniportrait_hub.tracking.records import TrackConfig, TrackResult
from aniportrait_hub.tracking.retarget import neutral_expression, retarget
from aniportrait_hub.tracking.smoothing import OneEuroFilter, smooth_sequence
from aniportrait_hub.tracking.video_tracker import VideoTracker

__all__ = ["ARKIT_PREDICTED", "FACE_LANDMARKER_SHA256", "INPUT_ERRORS", "BlendshapeReading", "BlendshapeTracker",
           "TrackingError", "face_landmarker_path", "neutral_expression", "retarget", "OneEuroFilter",
           "smooth_sequence", "LiveReading", "LiveTracker", "TrackConfig", "TrackResult", "VideoTracker"]
