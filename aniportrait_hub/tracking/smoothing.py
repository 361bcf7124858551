"""Temporal smoothing of tracked driving signals (issue: video driving).

Files are smoothed non-causally with ``scipy.signal.savgol_filter`` (a local polynomial fit keeps
the peaks of fast expressions that a moving average flattens). Live frames need a causal filter:
the One-Euro filter (Casiez et al., CHI 2012), an exponential smoother whose cut-off rises with
the signal's speed, so still poses stop jittering while fast motion keeps little lag. It is
written here over arrays (every channel of a frame at once) because the packages on PyPI filter
one scalar at a time in Python and are not maintained.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_filter


def smooth_sequence(values: np.ndarray, strength: float) -> np.ndarray:
    """Non-causal smoothing of ``values`` [T, ...] along time. ``strength`` in [0, 1]: 0 returns
    the input; 1 a quadratic Savitzky-Golay fit over a window of 31 frames (~1 s at 30 fps);
    in between the window grows linearly (odd, at least 5)."""
    if not 0 <= strength <= 1:
        raise ValueError(f"smoothing strength {strength} outside [0, 1]")
    values = np.asarray(values)
    n = values.shape[0]
    window = min(int(round(5 + strength * 26)) | 1, n if n % 2 else n - 1)  # odd, at most the sequence
    if strength == 0 or window < 5:
        return values.copy()
    return savgol_filter(values.astype(np.float64), window, 2, axis=0, mode="interp").astype(values.dtype)


class OneEuroFilter:
    """Causal One-Euro filter over arrays of a fixed shape.

    Args:
        min_cutoff: cut-off frequency (Hz) of a still signal; lower = smoother, more lag.
        beta: how fast the cut-off rises with speed; higher = less lag in fast motion.
        d_cutoff: cut-off (Hz) of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x = self._dx = None
        self._t = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of sample ``x`` taken at time ``t`` (seconds, increasing)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"sample shape {x.shape} differs from the first sample's {self._x.shape}")
        dt = t - self._t
        if dt <= 0:
            raise ValueError(f"sample times must increase: {t} after {self._t}")
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.copy()
