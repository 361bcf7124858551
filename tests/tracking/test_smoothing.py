"""Smoothing of tracked signals: noise goes down, motion stays, bad settings are named."""

import numpy as np
import pytest

from aniportrait_hub.tracking.smoothing import OneEuroFilter, smooth_sequence


def _signal(n=120, fps=30.0, seed=0):
    t = np.arange(n) / fps
    clean = np.stack([np.sin(2 * np.pi * 0.5 * t), np.clip(t - 1, 0, 1)], -1)  # a slow wave, a ramp
    noisy = clean + np.random.default_rng(seed).normal(0, 0.05, clean.shape)
    return t, clean, noisy


def test_sequence_smoothing_removes_noise_and_keeps_the_motion():
    _, clean, noisy = _signal()
    assert np.array_equal(smooth_sequence(noisy, 0.0), noisy)
    err = [np.abs(smooth_sequence(noisy, s) - clean).mean() for s in (0.0, 0.3, 1.0)]
    assert err[1] < 0.6 * err[0] and err[2] < err[1]
    assert np.abs(smooth_sequence(noisy, 1.0) - clean).max() < 0.12  # the wave's peaks survive
    short = smooth_sequence(noisy[:6], 1.0)  # the window shrinks to fit a short clip
    assert short.shape == (6, 2)
    with pytest.raises(ValueError, match="outside"):
        smooth_sequence(noisy, 1.5)


def test_one_euro_is_causal_quiets_jitter_and_follows_fast_motion():
    fps, rng = 30.0, np.random.default_rng(1)
    t = np.arange(90) / fps
    clean = np.where(t < 1.0, 0.0, np.clip((t - 1.0) * 10, 0, 1))[:, None]  # still for 1 s, then a 0.1 s jump
    noisy = clean + rng.normal(0, 0.03, clean.shape)

    def run(beta):
        f = OneEuroFilter(min_cutoff=1.0, beta=beta)
        return np.stack([f(x, ti) for x, ti in zip(noisy, t)])

    out, slow = run(1.0), run(0.0)
    still = slice(5, 30)
    assert out[still].std() < 0.4 * noisy[still].std()  # jitter of a still pose
    after = t >= 1.2
    assert np.abs(out - clean)[after].mean() < 0.5 * np.abs(slow - clean)[after].mean()  # speed opens it up
    # causal: a sample's output does not depend on later samples
    g = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    first = np.stack([g(x, ti) for x, ti in zip(noisy[:50], t[:50])])
    assert np.allclose(first, out[:50])
    with pytest.raises(ValueError, match="increase"):
        g(noisy[0], t[10])
    with pytest.raises(ValueError, match="shape"):
        g(np.zeros(3), 10.0)
