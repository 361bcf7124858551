"""A personal model on disk, as the pipeline loads it: the person an own photo was turned into
(``identity.safetensors``) and a reference to the base model they render with
(``personal.json``). :mod:`aniportrait_hub.inversion.personal` makes and saves them; this module
reads them, so that ``AniPortraitGAN.from_pretrained`` on a personal model's folder or Hub repo
loads its base and attaches the person (``pipe.identity``) without the pipeline importing the
inversion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from aniportrait_hub.pipelines.outputs import PortraitLatents
from aniportrait_hub.pretrained import DEFAULT_MODEL

#: The identity file inside a personal model's folder.
IDENTITY_FILE = "identity.safetensors"
#: The base-model reference of a personal model saved without its base's components.
PERSONAL_FILE = "personal.json"


@dataclasses.dataclass
class PersonalIdentity:
    """Who a personal model draws (``latents``) and how the photo showed them (its labels)."""

    latents: object
    """:class:`~aniportrait_hub.pipelines.outputs.PortraitLatents` (batch 1); bake it with
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


def personal_folder(name: str, kwargs: dict) -> Path | None:
    """The local folder of a personal model saved as a reference to its base (this module's
    format): ``name`` itself, or its Hub repo's files (from the cache when offline); None for
    anything else."""
    path = Path(name)
    if path.is_dir():
        return path if (path / PERSONAL_FILE).is_file() else None
    if path.exists() or name.count("/") != 1:
        return None
    from huggingface_hub import hf_hub_download

    opts = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only") if k in kwargs}
    try:
        ref = Path(hf_hub_download(name, PERSONAL_FILE, **opts))
    except (OSError, ValueError):  # not in the repo or the cache, or not a repo id: a whole pipeline
        return None
    for extra in (IDENTITY_FILE, "README.md"):
        try:
            hf_hub_download(name, extra, **opts)  # into the same snapshot folder
        except (OSError, ValueError):
            pass  # a missing identity is reported by the loader
    return ref.parent


def load_personal(cls, folder: Path, kwargs: dict):
    """A personal model's base pipeline (``cls.from_pretrained``) with its person attached as
    ``pipe.identity``.

    Raises:
        ValueError: the base is itself personal, its weights changed, or the identity is missing.
    """
    ref = read_personal_reference(folder)
    base = DEFAULT_MODEL if ref["base"] == "default" else ref["base"]
    pipe = cls.from_pretrained(base, **kwargs)
    if pipe.identity is not None:
        raise ValueError(f"{folder}: its base {ref['base']!r} is itself a personal model")
    want, have = ref.get("base_fingerprint"), weights_fingerprint(pipe)
    if want and have and want != have:
        raise ValueError(f"{folder} was made with other weights than {ref['base']!r} has now (fingerprint {want}, "
                         f"now {have}); turn the photo into a personal model again with this base")
    ident = folder / IDENTITY_FILE
    if not ident.is_file():
        raise ValueError(f"{folder} is an incomplete personal model: {IDENTITY_FILE} is missing")
    pipe.identity = read_identity_file(ident)
    pipe._check_identity()
    return pipe
