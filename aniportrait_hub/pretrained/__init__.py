"""The embedded default model (issue: the embedded default model).

``DEFAULT_MODEL`` is the folder of a saved :class:`~aniportrait_hub.AniPortraitGAN` pipeline
that ships inside the package (safetensors, the ``default`` preset taught by the synthetic
renderer; its model card is ``DEFAULT_MODEL / "README.md"``). Every command and the app use it
when no ``--model`` is given::

    from aniportrait_hub import AniPortraitGAN, DEFAULT_MODEL
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)

:func:`aniportrait_hub.pipelines.loading.load_pipeline` resolves what a user may pass as a
model: ``default``, ``preset:NAME`` (untrained weights of a named preset), a pipeline folder or a
Hub repo id.

May import: nothing of the package (it holds data and their paths).
"""

from __future__ import annotations

from pathlib import Path

#: Folder of the embedded default pipeline.
DEFAULT_MODEL = Path(__file__).resolve().parent / "default"

REBUILD_HINT = ("rebuild it with `bash train/recipes/default.sh` (about 2.5 h on a 2-core CPU) or reinstall "
                "the package")
