"""What tracking takes and gives: its run config (:class:`TrackConfig`), one frame's detections
(:class:`Observation`) and a tracked clip (:class:`TrackResult`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.tracking.follow import FollowConfig

#: Expression sources of :class:`TrackConfig`.

#: Expression sources of :class:`TrackConfig`.
EXPRESSION_SOURCES = ("auto", "blendshapes", "landmarks")


@dataclasses.dataclass
class TrackConfig:
    """Video tracking settings (our choices, each named)."""

    chunk: int = 50
    """Frames fitted together in one batched warm-started fit."""
    warm_steps: int = 30
    """Adam steps of each chunk's fit (the first face's cold fit takes ``cold_steps``). Each
    frame starts from the first face's fit moved on by MediaPipe's readings
    (:meth:`VideoTracker._fit_init`), so few steps are needed: on 4 synthetic clips (25 fps,
    head swings of +-25 deg) 30 / 40 / 50 steps gave a head yaw error of 2.4 / 2.3 / 2.3 deg
    (the earlier start from the previous chunk's last frame alone needed 150 steps in chunks of
    25 for 1.5 deg, at a third of the speed, and stepped at chunk boundaries)."""
    cold_steps: int | None = None
    """Adam steps of the first face's cold fit, which also settles the driver's body shape and
    face identity for the clip (None: ``FitConfig.steps``, 300; 200 / 150 raised the pitch
    error on those clips from 2.5 to 3.0 / 3.4 deg)."""
    hold_camera: bool = True
    """The clip's camera is the first face's fit (the warm fits turn the head, not the camera):
    a camera turn and the opposite head turn look nearly alike, and freed in every chunk they
    traded off by up to 2.6 deg at chunk boundaries on a still clip. A driver who turns the
    whole body then reads as a head and shoulder turn."""
    pose_rate: float | None = 8.0
    """Shoulder readings per second: MediaPipe's pose model (two thirds of a frame's reading
    time) runs on every k-th frame, k = round(fps / pose_rate) (3 at 25 fps, 4 at 30), and the
    shoulders of the frames between are interpolated (shoulders move slowly); None: every frame."""
    background_fit: bool = True
    """Fit chunks on a worker thread while MediaPipe reads the next frames (the two overlap on a
    multi-core CPU: 2 cores, ~1.6x the throughput of one after the other)."""
    max_side: int = 1920
    """Frames are scaled down so that neither side exceeds this before tracking (1080p and below
    pass as they are; 4K is scaled, with a message). The models read crops around the person
    (``follow``), so a larger frame costs only its decoding, and keeps a small face's pixels."""
    max_seconds: float | None = 60.0
    """Longer videos are cut here (with a message); None: no limit."""
    smoothing: float = 0.0
    """Savitzky-Golay strength in [0, 1] over the tracked pose, camera and expression
    (:func:`~aniportrait_hub.tracking.smooth_sequence`); 0: raw."""
    expression_source: str = "auto"
    """``blendshapes`` (MediaPipe's ARKit scores by name), ``landmarks`` (the label fit's units)
    or ``auto``: blendshapes when the model's basis holds the units that model predicts."""
    person: str | int = "largest"
    """Whom to track where several people are in view: ``largest``, ``left``, ``right`` or N
    (the N-th face from the left; :func:`~aniportrait_hub.tracking.follow.parse_person`). The
    people are found and counted by the full-range face detector on the first frame, then once
    every ``count_every`` seconds and whenever the face is lost; in between the landmarker reads
    a crop that follows the chosen face (:class:`~aniportrait_hub.tracking.follow.FaceFollower`),
    so faces far smaller than the frame are read, and a second person never takes the reading
    over. A message counts the frames with several people."""
    count_every: float = 1.0
    """Seconds between two looks at the whole frame (see ``person``)."""
    follow: FollowConfig = dataclasses.field(default_factory=FollowConfig)
    """Where the face and shoulder crops are placed."""
    min_shoulder_visibility: float = 0.5
    """Pose landmarks 11 / 12 below this visibility count as unseen (the face alone decides)."""


@dataclasses.dataclass
class TrackResult:
    """A tracked clip."""

    sequence: DrivingSequence
    """Expression, joint angles and camera per frame."""
    found: np.ndarray
    """[T] bool: a face was found in the frame (others hold the last pose)."""
    residual: np.ndarray
    """[T] RMS face-landmark residual of the fit (canonical pixels of a 256 crop)."""
    landmark_expression: np.ndarray
    """[T, E'] the landmark fit's own expression (the fitter's face model units,
    ``fitter.face.exp_names``), whichever source the sequence took (for comparison)."""
    messages: list[str]
    """What the user should know (cut, scaled, frames without a face)."""


@dataclasses.dataclass
class Observation:
    """MediaPipe's reading of one frame."""

    face: np.ndarray | None
    """[478, 2] face-mesh landmarks in pixels (None: no face)."""
    shoulders: np.ndarray
    """[2, 2] pose landmarks 11 and 12 in pixels, NaN where unseen."""
    blendshapes: np.ndarray | None
    """[E] the blendshape scores in the tracker's ``exp_names`` order (None: no face)."""
    faces: int = 0
    """Faces in the frame at the last look at the whole of it (the chosen one is read)."""
    rotation: np.ndarray | None = None
    """[3, 3] the face's rotation in MediaPipe's camera frame (its facial transform; None: no
    face or no transform)."""
    pose_read: bool = True
    """The pose model ran on this frame (False: ``shoulders`` are NaN, to be interpolated)."""
