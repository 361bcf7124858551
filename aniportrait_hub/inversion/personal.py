"""A personal model: the person an own photo was turned into, saved so ``from_pretrained``
loads it.

Our choice of format (issue 31: under 10 MB): the person and a reference to the model they were
made with, not a copy of it:

- ``identity.safetensors``: the person's latents (with the FiLM offset of ``"film"`` tuning), the
  photo's labels and the map residual (the photo's own pixels,
  :mod:`aniportrait_hub.inversion.maps`, as two lossless PNG atlases): 1-3 MB;
- ``personal.json``: the base model (``"default"`` for the embedded one, else the folder or Hub
  repo id it was loaded from) and a fingerprint of its weights, so a changed base is an error
  rather than a different person;
- ``README.md``: the base's model card with a "Personal model" section.

:meth:`AniPortraitGAN.from_pretrained` on such a folder or Hub repo loads the base and attaches
the identity as ``pipe.identity`` (the reading half of this format is
:mod:`aniportrait_hub.pipelines.personal`, so the pipeline does not import the inversion). A pipeline whose weights were tuned (``TuneConfig.mode =
"weights"``) differs from every base, so it is saved whole instead (every component as
safetensors, ~18 MB with the default model, 12 MB of it the body/face assets), with the
identity file beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from aniportrait_hub.pipelines.personal import (  # noqa: F401  (the format, read by the pipeline; re-exported)
    IDENTITY_FILE,
    PERSONAL_FILE,
    PersonalIdentity,
    load_identity,
    read_identity_file,
    read_personal_reference,
    weights_fingerprint,
    write_identity_file,
)


def base_reference(pipe) -> str:
    """How a personal model names ``pipe`` as its base: ``"default"`` for the embedded model,
    else the folder or Hub repo id it was loaded from."""
    from aniportrait_hub.pretrained import DEFAULT_MODEL

    name = str(getattr(pipe, "name_or_path", "") or pipe.config.get("_name_or_path", ""))
    try:
        if name and Path(name).resolve() == DEFAULT_MODEL.resolve():
            return "default"
    except OSError:
        pass
    return name


def save_personal_model(pipe, identity: PersonalIdentity, folder: str | Path) -> Path:
    """Save ``identity`` (with ``pipe``, the pipeline it renders with) into ``folder``: the
    identity and a reference to ``pipe`` as its base, or a whole copy where ``pipe``'s weights
    were tuned (module docstring).

    Raises:
        FileExistsError: ``folder`` exists and is not empty (nothing is overwritten).
        ValueError: ``pipe`` was not loaded from a folder or repo (nothing to refer to).
    """
    from aniportrait_hub.models.card import write_model_card

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not empty; choose a new folder (nothing was overwritten)")
    whole = identity.info.get("tuned", True) and identity.info.get("tune_mode") == "weights"
    base = base_reference(pipe)
    if not whole and not base:
        raise ValueError("this pipeline was not loaded with from_pretrained, so a personal model cannot name its base; "
                         "save it with pipe.save_pretrained first and load it from there")
    if whole:
        pipe.save_pretrained(folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PERSONAL_FILE).write_text(json.dumps({"base": base, "base_fingerprint": weights_fingerprint(pipe),
                                                        "format": 1}, indent=1) + "\n")
        write_model_card(pipe, folder)
    write_identity_file(identity, folder / IDENTITY_FILE)
    card = folder / "README.md"
    if card.is_file():
        name = identity.info.get("photo", "a photo")
        mode = identity.info.get("tune_mode") if identity.info.get("tuned", True) else None
        how = {"film": "pivotally tuned through its own FiLM offset of phi",
               "weights": "pivotally tuned: phi's colour and opacity heads differ from the base model (saved whole)"}.get(
            mode, "not pivotally tuned")
        if identity.latents.map_residual is not None:
            how += "; its radiance maps carry the photo's own pixels (a residual in the identity file)"
        of = "" if whole else f" It renders with the base model `{base}` (`{PERSONAL_FILE}`), loaded with it."
        card.write_text(card.read_text() + f"\n## Personal model\n\nThis model draws one person, inverted from {name} "
                        f"({identity.info.get('quality', '?')} quality), {how}. `pipe.identity` holds the person's "
                        f"latents and the photo's labels (`{IDENTITY_FILE}`).{of}\n")
    return folder


