"""Webcam driving (:class:`LiveSession`): frames in, frames of the chosen person out, with the
measured rate."""

from __future__ import annotations

import collections
import time

import numpy as np

from aniportrait_hub.studio.engine import Studio
from aniportrait_hub.studio.inputs import _follow_choice


class LiveSession:
    """Webcam driving: frames in, frames of the chosen person out, with the measured rate.
    ``follow``: whom to track where several people are in view."""

    def __init__(self, studio: Studio, follow: str | int = "largest"):
        from aniportrait_hub.tracking import LiveTracker, TrackConfig

        self.studio = studio
        self.follow = _follow_choice(follow)
        self.tracker = LiveTracker(studio.exp_names, config=TrackConfig(person=self.follow)).__enter__()
        self.times: collections.deque[float] = collections.deque(maxlen=20)
        self.t0 = time.perf_counter()
        self.waiting = True
        """No face seen yet."""

    def step(self, frame: np.ndarray, person: str = "seed", seed: int = 0,
             truncation_psi: float = 0.7) -> tuple[np.ndarray | None, float]:
        """(the person in the webcam frame's pose and expression or None before a face was
        seen, frames per second over the last 20 frames)."""
        ts = int((time.perf_counter() - self.t0) * 1000)
        reading = self.tracker.step(frame, ts)
        self.times.append(time.perf_counter())
        fps = (len(self.times) - 1) / (self.times[-1] - self.times[0]) if len(self.times) > 1 else 0.0
        self.waiting = reading is None
        if reading is None:
            return None, fps
        cache = self.studio.identity(person, seed, truncation_psi)
        img, _ = self.studio.frame(cache, reading.expression, reading.joint_eulers, reading.camera,
                                   self.studio.cfg.preview_resolution)
        return img, fps

    def close(self) -> None:
        self.tracker.__exit__()
