"""Attribute edits applied to an identity's latents: ``latents`` moved along named directions
(age, gender, body weight, hair length, skin tone) stored in the pipeline's config
(``edit_directions``). :mod:`aniportrait_hub.inversion.edits` learns the directions."""

from __future__ import annotations

import dataclasses

import torch

#: Attribute -> what +1 means.
ATTRIBUTES = {
    "age": "one standard deviation older (anny's age phenotype over the synthetic range)",
    "gender": "one standard deviation towards anny's male end (towards female: negative)",
    "weight": "one standard deviation heavier (anny's weight phenotype)",
    "hair_length": "one standard deviation longer hair (hair drop below the eyes)",
    "skin_tone": "one standard deviation darker skin (1 - luminance of the skin colour)",
}


def apply_edits(latents, edits: dict[str, float] | None, directions: dict | None):
    """``latents`` moved along the named directions (strengths in standard deviations of each
    attribute, each in [-3, 3]).

    Raises:
        ValueError: an unknown attribute, a strength out of range, or a model without directions.
    """
    if not edits:
        return latents
    if not directions:
        raise ValueError("this model has no edit directions (config edit_directions); learn them with "
                         "`aniportrait learn-edits --write`")
    noise, betas = latents.noise.clone(), latents.betas.clone()
    for name, s in edits.items():
        if name not in ATTRIBUTES or name not in directions:
            raise ValueError(f"unknown edit {name!r}; this model edits {sorted(k for k in directions if k in ATTRIBUTES)}")
        s = float(s)
        if not -3 <= s <= 3:
            raise ValueError(f"edit {name}={s:g} outside [-3, 3] (standard deviations)")
        d = directions[name]
        if "noise" in d:
            noise = noise + s * torch.tensor(d["noise"], dtype=noise.dtype)
        if "betas" in d:
            betas = betas + s * torch.tensor(d["betas"], dtype=betas.dtype)
    return dataclasses.replace(latents, betas=betas, noise=noise)
