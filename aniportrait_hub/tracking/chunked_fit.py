"""The label fit of a tracked clip in chunks (:class:`_ChunkedFit`, in a background thread where
there are cores to spare), warm-started from the previous frame, with held detections carried
over frames without a face."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from aniportrait_hub.tracking.records import Observation

#: Expression sources of :class:`TrackConfig`.

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

    def __init__(self, tracker, background: bool | None = None):  # tracker: the VideoTracker that owns it
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
