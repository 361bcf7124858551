"""Strict weight checks after loading a pipeline: no silent partial loads (DESIGN.md decision 5).

diffusers fills weights it does not find with fresh initial values in some code paths; this
compares every component's state dict with the tensors actually stored in its safetensors file
(names and shapes) and raises on any difference.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open


def snapshot_folder(name: str, kwargs: dict) -> Path:
    """The local folder of a pipeline name: itself, or its Hub snapshot (cache only)."""
    if Path(name).is_dir():
        return Path(name)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name, revision=kwargs.get("revision"), cache_dir=kwargs.get("cache_dir"),
                                  local_files_only=True))


def check_loaded_weights(pipe, name: str, kwargs: dict) -> Path:
    """Raise ValueError when a component's stored tensors do not match its state dict; returns
    the pipeline's local folder."""
    folder = snapshot_folder(name, kwargs)
    variant = kwargs.get("variant")
    for comp_name, module in pipe.components.items():
        if not hasattr(module, "state_dict"):
            continue
        fname = "diffusion_pytorch_model" + (f".{variant}" if variant else "") + ".safetensors"
        path = folder / comp_name / fname
        if not path.is_file():
            raise ValueError(f"{name}: component '{comp_name}' has no weights file {path.name}")
        with safe_open(str(path), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        missing = sorted(set(expected) - set(stored))
        unexpected = sorted(set(stored) - set(expected))
        mismatched = sorted(k for k in set(stored) & set(expected) if stored[k] != expected[k])
        if missing or unexpected or mismatched:
            parts = []
            if missing:
                parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
            if unexpected:
                parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
            if mismatched:
                k = mismatched[0]
                parts.append(f"mis-shaped {mismatched[:5]} (e.g. {k}: stored {stored[k]}, model {expected[k]})")
            raise ValueError(f"{name}: weights of component '{comp_name}' do not match its config: "
                             + "; ".join(parts))
    return folder
