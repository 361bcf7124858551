"""Tracking real faces into driving data (issue: video driving)."""

from aniportrait_hub.tracking.blendshapes import (FACE_LANDMARKER_SHA256, BlendshapeReading, BlendshapeTracker,
                                                  TrackingError, face_landmarker_path)

__all__ = ["FACE_LANDMARKER_SHA256", "BlendshapeReading", "BlendshapeTracker", "TrackingError",
           "face_landmarker_path"]
