"""The embedded default model (issue: the embedded default model).

``DEFAULT_MODEL`` is the folder of a saved :class:`~aniportrait_hub.AniPortraitGAN` pipeline
that ships inside the package (safetensors, the ``default`` preset taught by the synthetic
renderer; its model card is ``DEFAULT_MODEL / "README.md"``). Every command and the app use it
when no ``--model`` is given::

    from aniportrait_hub import AniPortraitGAN, DEFAULT_MODEL
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)

:func:`load_pipeline` resolves what a user may pass as a model: ``default``, ``preset:NAME``
(untrained weights of a named preset), a pipeline folder or a Hub repo id.
"""

from __future__ import annotations

from pathlib import Path

#: Folder of the embedded default pipeline.
DEFAULT_MODEL = Path(__file__).resolve().parent / "default"

REBUILD_HINT = ("rebuild it with `bash train/recipes/default.sh` (about 2.5 h on a 2-core CPU) or reinstall "
                "the package")


def load_default(folder: str | Path = DEFAULT_MODEL, **kwargs):
    """The embedded default pipeline (or another copy of it at ``folder``).

    Raises:
        FileNotFoundError: the folder or its ``model_index.json`` is missing.
        ValueError: a file in it is corrupt or does not match (names what, and how to rebuild).
    """
    from aniportrait_hub.pipelines.pipeline import AniPortraitGAN

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
    from aniportrait_hub.pipelines.pipeline import AniPortraitGAN

    if model in ("", "default"):
        return load_default(**kwargs)
    if model.startswith("preset:"):
        return AniPortraitGAN.from_preset(model.split(":", 1)[1])
    return AniPortraitGAN.from_pretrained(model, **kwargs)
