"""Live tracking of webcam frames (:class:`LiveTracker`): one fit step per frame, warm-started,
filtered by a One-Euro filter, for the app's Live tab."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.tracking.blendshapes import TrackingError
from aniportrait_hub.tracking.chunked_fit import FIT_RES, _Anchor
from aniportrait_hub.tracking.records import TrackConfig
from aniportrait_hub.tracking.video_tracker import VideoTracker

#: Expression sources of :class:`TrackConfig`.

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
