"""What a user may pass as a model, resolved to a pipeline: ``default`` (the embedded model,
:data:`aniportrait_hub.pretrained.DEFAULT_MODEL`), ``preset:NAME`` (untrained weights of a named
preset), a pipeline folder or a Hub repo id."""

from __future__ import annotations

from pathlib import Path

from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from aniportrait_hub.pretrained import DEFAULT_MODEL, REBUILD_HINT


def load_default(folder: str | Path = DEFAULT_MODEL, **kwargs):
    """The embedded default pipeline (or another copy of it at ``folder``).

    Raises:
        FileNotFoundError: the folder or its ``model_index.json`` is missing.
        ValueError: a file in it is corrupt or does not match (names what, and how to rebuild).
    """
    folder = Path(folder)
    index = folder / "model_index.json"
    if not index.is_file():
        raise FileNotFoundError(f"the embedded default model is missing ({index} not found); {REBUILD_HINT}")
    try:
        return AniPortraitGAN.from_pretrained(folder, **kwargs)
    except Exception as err:  # a damaged file can fail in safetensors, json or diffusers
        raise ValueError(f"the embedded default model at {folder} is corrupt or incomplete ({err}); "
                         f"{REBUILD_HINT}") from err


def load_pipeline(model: str = "default", **kwargs):
    """``default`` | ``preset:NAME`` | a pipeline folder | a Hub repo id -> AniPortraitGAN."""
    if model in ("", "default"):
        return load_default(**kwargs)
    if model.startswith("preset:"):
        return AniPortraitGAN.from_preset(model.split(":", 1)[1])
    return AniPortraitGAN.from_pretrained(model, **kwargs)
