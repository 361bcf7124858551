"""The appearance code: a synthetic person's colours and hair style as a point of N(0, I)
(issue: the embedded default model).

The generator's appearance noise eps is sampled N(0, I) (METHOD.md 1.2). For a model taught by
the synthetic renderer we derive each training identity's eps from the synthesizer's own
appearance parameters instead of learning it (our choice, ``TeacherConfig.appearance``): every
parameter is sent through its sampling distribution's CDF and the standard normal's inverse
CDF (a categorical or boolean choice to a point inside its quantile bin), so that decoding
eps ~ N(0, I) draws exactly the synthesizer's distribution. ``pipe(seed=...)`` therefore
samples new people of the training distribution, and :func:`decode` tells the synthesizer who
a sampled eps is, so any sample can be compared with the teacher's render of the same person.

Dimensions used (the rest of eps is free and ignored): skin tone, skin jitter (3), lip
darkening, hair colour, clothing (3), iris, bald, hair thickness, long hair, length, flare.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from aniportrait_hub.data.appearance import (HAIR_COLOURS, IRIS_COLOURS, SKIN_TONES, Appearance,
                                             AppearanceConfig)
from aniportrait_hub.data.hair import HairStyle

#: Number of eps dimensions the code occupies.
CODE_DIM = 15
_EPS = 1e-4


def _gauss(u):
    return ndtri(np.clip(u, _EPS, 1 - _EPS))


def _unit(lo, hi, x):
    return (np.asarray(x, np.float64) - lo) / (hi - lo)


def encode(look: Appearance, style: HairStyle, rng: np.random.Generator,
           cfg: AppearanceConfig = AppearanceConfig()) -> np.ndarray:
    """[CODE_DIM] code of a person; ``rng`` places categorical / boolean choices inside their bins."""
    v = rng.random(5)
    # The tone the jitter was added to is the nearest palette row (rows lie >= 0.1 apart).
    skin_idx = int(np.argmin(np.linalg.norm(SKIN_TONES - look.skin, axis=1)))
    base = SKIN_TONES[skin_idx]
    jitter = (look.skin - base) / cfg.skin_jitter
    lip = float(np.mean(look.lips / np.maximum(look.skin * np.array([1.0, 0.72, 0.72]), 1e-6)))
    hair_idx = int(np.argmin(np.linalg.norm(HAIR_COLOURS - look.hair, axis=1)))
    iris_idx = int(np.argmin(np.linalg.norm(IRIS_COLOURS - look.iris, axis=1)))
    p_bald = cfg.bald_probability
    code = np.concatenate([
        [_gauss((skin_idx + v[0]) / len(SKIN_TONES))], jitter,
        [_gauss(_unit(*cfg.lip_darkening, lip))],
        [_gauss((hair_idx + v[1]) / len(HAIR_COLOURS))],
        _gauss(_unit(0.05, 0.9, look.clothing)),
        [_gauss((iris_idx + v[2]) / len(IRIS_COLOURS))],
        [_gauss(v[3] * p_bald if look.bald else p_bald + v[3] * (1 - p_bald))],
        [_gauss(_unit(0.006, 0.016, style.thickness))],
        [_gauss(v[4] * 0.45 if style.long else 0.45 + v[4] * 0.55)],
        [_gauss(_unit(0.14, 0.30, style.length))],
        [_gauss(_unit(0.03, 0.15, style.flare))],
    ])
    return code.astype(np.float32)


def decode(code: np.ndarray, cfg: AppearanceConfig = AppearanceConfig()) -> tuple[Appearance, HairStyle]:
    """The person a code (the first CODE_DIM entries of eps) stands for."""
    c = np.asarray(code, np.float64)[:CODE_DIM]
    u = ndtr(c)

    def pick(table, x):
        return table[min(int(x * len(table)), len(table) - 1)]

    skin = np.clip(pick(SKIN_TONES, u[0]) + c[1:4] * cfg.skin_jitter, 0, 1)
    lip = cfg.lip_darkening[0] + u[4] * (cfg.lip_darkening[1] - cfg.lip_darkening[0])
    lips = np.clip(skin * lip * np.array([1.0, 0.72, 0.72]), 0, 1)
    hair = pick(HAIR_COLOURS, u[5])
    look = Appearance(skin, lips, np.clip(hair * 0.8 + 0.02, 0, 1), hair, pick(IRIS_COLOURS, u[9]),
                      0.05 + 0.85 * u[6:9], bool(u[10] < cfg.bald_probability))
    style = HairStyle(0.006 + 0.01 * u[11], bool(u[12] < 0.45), 0.14 + 0.16 * u[13], 0.03 + 0.12 * u[14])
    return look, style
