"""A personal model: the pipeline an own photo was turned into, saved so ``from_pretrained``
loads it.

Our choice of format: a full copy of the pipeline (every component as safetensors, float32,
~18 MB with the default model, of which 12 MB are the body/face assets; in ``"weights"`` tuning
mode with the tuned phi in place of the original), plus ``identity.safetensors``: the person's
latents (with the FiLM offset of ``"film"`` tuning) and the photo's labels. A copy rather than only the tuned tensors because it then loads anywhere, by
folder or Hub repo id, with nothing but :meth:`AniPortraitGAN.from_pretrained`, and pushes to
the Hub as one repo; the tuned tensors alone would be 0.6 MB but need their base model beside
them. :meth:`AniPortraitGAN.from_pretrained` attaches the identity as ``pipe.identity``. The
identity file also holds the person's map residual (the photo's own pixels,
:mod:`aniportrait_hub.inversion.maps`) as two lossless PNG atlases.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

#: The identity file inside a personal model's folder.
IDENTITY_FILE = "identity.safetensors"


@dataclasses.dataclass
class PersonalIdentity:
    """Who a personal model draws (``latents``) and how the photo showed them (its labels)."""

    latents: object
    """:class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents` (batch 1); bake it with
    ``truncation_psi=1.0``."""
    expression: torch.Tensor
    """[1, E] the photo's expression."""
    joint_eulers: torch.Tensor
    """[1, 6, 3] the photo's pose."""
    camera: torch.Tensor
    """[1, 2] the photo's camera."""
    info: dict = dataclasses.field(default_factory=dict)
    """How it was made (photo name, quality, steps, losses, seconds)."""


def save_personal_model(pipe, identity: PersonalIdentity, folder: str | Path) -> Path:
    """Save ``pipe`` (the tuned pipeline) and ``identity`` into ``folder``.

    Raises:
        FileExistsError: ``folder`` exists and is not empty (nothing is overwritten).
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not empty; choose a new folder (nothing was overwritten)")
    pipe.save_pretrained(folder)
    write_identity_file(identity, folder / IDENTITY_FILE)
    card = folder / "README.md"
    if card.is_file():
        name = identity.info.get("photo", "a photo")
        mode = identity.info.get("tune_mode") if identity.info.get("tuned", True) else None
        how = {"film": "pivotally tuned through its own FiLM offset of phi (the components are the base model's)",
               "weights": "pivotally tuned: phi's colour and opacity heads differ from the base model"}.get(
            mode, "not pivotally tuned (the components are the base model's)")
        if identity.latents.map_residual is not None:
            how += "; its radiance maps carry the photo's own pixels (a residual in the identity file)"
        card.write_text(card.read_text() + f"\n## Personal model\n\nThis copy draws one person, inverted from {name} "
                        f"({identity.info.get('quality', '?')} quality) and {how}. `pipe.identity` holds the person's "
                        f"latents and the photo's labels (`{IDENTITY_FILE}`).\n")
    return folder


def write_identity_file(identity: PersonalIdentity, path: str | Path) -> Path:
    """``identity`` as one small ``.safetensors`` file (latents, the photo's labels, ``info`` as
    JSON metadata): a personal model's ``identity.safetensors``, or a person to hand around."""
    lat = identity.latents
    tensors = {"face_id": lat.face_id, "betas": lat.betas, "noise": lat.noise, "expression": identity.expression,
               "joint_eulers": identity.joint_eulers, "camera": identity.camera}
    for name in ("appearance_face_id", "film_offset"):
        if getattr(lat, name) is not None:
            tensors[name] = getattr(lat, name)
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}
    if lat.map_residual is not None:  # two PNG atlases, as byte tensors (lossless, ~1 MB)
        from aniportrait_hub.rendering.map_residual import encode_residual

        tensors.update(encode_residual(lat.map_residual))
    save_file(tensors, str(path), metadata={"info": json.dumps(identity.info)})
    return Path(path)


def read_identity_file(path: str | Path) -> PersonalIdentity:
    """The identity in a file :func:`write_identity_file` wrote.

    Raises:
        FileNotFoundError: no such file. ValueError: not an identity file, or incomplete.
    """
    from aniportrait_hub.pipelines.pipeline import PortraitLatents

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            info = json.loads((f.metadata() or {}).get("info", "{}"))
        from aniportrait_hub.rendering.map_residual import decode_residual

        lat = PortraitLatents(t["face_id"], t["betas"], t["noise"], t.get("appearance_face_id"), t.get("film_offset"),
                              decode_residual(t))
        return PersonalIdentity(lat, t["expression"], t["joint_eulers"], t["camera"], info)
    except (KeyError, OSError, ValueError, SafetensorError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is corrupt or incomplete ({type(err).__name__}: {err})") from err


def load_identity(folder: str | Path) -> PersonalIdentity | None:
    """The identity stored in a personal model's folder (None when it has none)."""
    path = Path(folder) / IDENTITY_FILE
    return read_identity_file(path) if path.is_file() else None
