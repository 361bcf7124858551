"""Tracking evaluation on clips with known labels (issue: video driving; the evaluation suite
builds on it).

- :func:`clip_labels`: per-frame labels of a synthetic person talking and turning (head roll /
  yaw / pitch as sums of two sinusoids, collar and shoulder shrugs, jawOpen in syllable-like
  pulses, blinks every ~2 s, a slow smile and brow raise, four more units per clip; the camera
  stays frontal), and :func:`render_clip`, their frames from the synthetic renderer.
- :func:`rotated_clip`: a real photo turned into a clip by known 2D rotations and zooms about
  a point (an image rotation is a head roll seen from the camera).
- :func:`blink_scores`: labelled blinks found, and false ones.
"""

from __future__ import annotations

import math

import numpy as np

ROTATION_DEG = {"roll": 8.0, "yaw": 25.0, "pitch": 12.0}
#: Units a clip may add beside talking, blinking, smiling and the brow raise.
EXTRA_UNITS = ("browDownLeft", "browDownRight", "eyeWideLeft", "eyeWideRight", "eyeSquintLeft", "eyeSquintRight",
               "mouthPucker", "mouthFunnel", "mouthFrownLeft", "mouthFrownRight", "cheekPuff", "mouthStretchLeft")


def clip_labels(k: int, n: int, fps: float, exp_names: list[str], still: bool = False) -> dict[str, np.ndarray]:
    """Per-frame labels of clip ``k``: expression [n, E], joint_eulers [n, 6, 3], camera [n, 2]."""
    rng = np.random.default_rng([7, k])
    t = np.arange(n) / fps
    eul = np.zeros((n, 6, 3))
    exp = np.zeros((n, len(exp_names)))
    cam = np.full((n, 2), math.pi / 2)
    if still:
        return {"expression": exp, "joint_eulers": eul, "camera": cam}

    def wave(amp_deg):
        f = rng.uniform(0.15, 0.45, 2)
        ph = rng.uniform(0, 2 * math.pi, 2)
        w = np.sin(2 * math.pi * f[0] * t + ph[0]) + 0.5 * np.sin(2 * math.pi * f[1] * t + ph[1])
        return np.radians(amp_deg) * w / 1.5

    for axis, name in enumerate(("roll", "yaw", "pitch")):  # Euler [z, y, x] of the head joint
        eul[:, 3, axis] = wave(ROTATION_DEG[name])
    for j in (1, 2, 4, 5):  # collars and shoulders: z rotation
        eul[:, j, 0] = wave(8.0)
    ix = exp_names.index
    syll = np.clip(np.sin(2 * math.pi * rng.uniform(2.0, 3.0) * t), 0, None) * rng.uniform(0.4, 0.9)
    talk = (np.sin(2 * math.pi * 0.3 * t + rng.uniform(0, 6)) > -0.3)  # pauses
    exp[:, ix("jawOpen")] = syll * talk
    exp[:, ix("mouthSmileLeft")] = exp[:, ix("mouthSmileRight")] = np.clip(wave(0.6 * 180 / math.pi), 0, None)
    exp[:, ix("browInnerUp")] = np.clip(wave(0.5 * 180 / math.pi), 0, None)
    for u in rng.choice(EXTRA_UNITS, 4, replace=False):  # four more units, slow and sparse
        exp[:, ix(u)] = np.clip(wave(0.7 * 180 / math.pi), 0, None)
    start = rng.uniform(0.3, 1.2)
    for tb in np.arange(start, t[-1], rng.uniform(1.6, 2.4)):
        i = int(round(tb * fps))
        exp[i:i + 2, ix("eyeBlinkLeft")] = exp[i:i + 2, ix("eyeBlinkRight")] = 1.0
    return {"expression": exp, "joint_eulers": eul, "camera": cam}


def render_clip(renderer, index: int, labels: dict[str, np.ndarray]) -> list[np.ndarray]:
    """RGB frames on white of person ``index`` under each frame's labels (the fixed light)."""
    from aniportrait_hub.data.canonical import FIXED_LIGHT

    frames = []
    for i in range(len(labels["camera"])):
        _, imgs = renderer.render(index, labels={k: v[i] for k, v in labels.items()}, light=FIXED_LIGHT)
        rgba = imgs["rgba"].astype(np.float64) / 255
        a = rgba[..., 3:]
        frames.append((255 * (rgba[..., :3] * a + (1 - a))).round().astype(np.uint8))
    return frames


def blink_scores(true: np.ndarray, got: np.ndarray, threshold: float = 0.4) -> tuple[int, int, int]:
    """(labelled blinks, detected, false detections): a blink is a run of frames labelled 1; it is
    detected when ``got`` exceeds ``threshold`` within one frame of it; a false detection is a run
    above threshold more than one frame from every labelled blink."""
    def runs(x):
        idx = np.flatnonzero(np.diff(np.r_[0, x.astype(int), 0]))
        return list(zip(idx[::2], idx[1::2]))

    lab, hit = runs(true > 0.5), runs(got > threshold)
    found = sum(any(h0 <= e + 1 and h1 >= s - 1 for h0, h1 in hit) for s, e in lab)
    false = sum(not any(h0 <= e + 1 and h1 >= s - 1 for s, e in lab) for h0, h1 in hit)
    return len(lab), found, false


def rotated_clip(image: np.ndarray, angles_deg: np.ndarray, zooms: np.ndarray, centre: tuple[float, float],
                 side: int = 360, width: float = 360.0) -> list[np.ndarray]:
    """Frames [side, side, 3] uint8 of ``image`` rotated counter-clockwise by each angle about
    ``centre`` (x, y pixels) and zoomed in by each factor: a crop ``width / zoom`` wide with the
    centre 40 % from its top, resized to ``side``; white where the rotation uncovers nothing."""
    from PIL import Image

    img = Image.fromarray(image)
    cx, cy = centre
    frames = []
    for a, z in zip(angles_deg, zooms):
        im = img.rotate(float(a), center=(cx, cy), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
        w = width / z
        crop = im.crop((cx - w / 2, cy - 0.4 * w, cx + w / 2, cy + 0.6 * w)).resize((side, side), Image.BILINEAR)
        frames.append(np.asarray(crop))
    return frames
