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
the identity as ``pipe.identity``. A pipeline whose weights were tuned (``TuneConfig.mode =
"weights"``) differs from every base, so it is saved whole instead (every component as
safetensors, ~18 MB with the default model, 12 MB of it the body/face assets), with the
identity file beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

#: The identity file inside a personal model's folder.
IDENTITY_FILE = "identity.safetensors"
#: The base-model reference of a personal model saved without its base's components.
PERSONAL_FILE = "personal.json"


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


def weights_fingerprint(pipe) -> str | None:
    """sha256 of every component's tensors (names, shapes and float32 bytes), the first 16 hex
    digits; None when some network is not float32 (a lossy load cannot be compared)."""
    h = hashlib.sha256()
    for name in sorted(pipe.components):
        module = pipe.components[name]
        if not isinstance(module, torch.nn.Module):
            continue
        for key, t in sorted(module.state_dict().items()):
            if t.is_floating_point() and t.dtype != torch.float32:
                return None
            h.update(f"{name}.{key}{tuple(t.shape)}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


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


def read_personal_reference(folder: str | Path) -> dict | None:
    """``personal.json`` of a personal model folder (None: the folder is a whole pipeline).

    Raises:
        ValueError: the file is not a personal-model reference.
    """
    path = Path(folder) / PERSONAL_FILE
    if not path.is_file():
        return None
    try:
        ref = json.loads(path.read_text())
        if not isinstance(ref, dict) or not isinstance(ref.get("base"), str) or not ref["base"]:
            raise ValueError("no base model named")
    except (json.JSONDecodeError, ValueError) as err:
        raise ValueError(f"{path} is not a personal model reference ({err})") from err
    return ref


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
