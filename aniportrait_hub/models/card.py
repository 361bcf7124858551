"""The model card written beside a saved pipeline, from the template ``model_card.md``
(huggingface_hub ``ModelCard``, Jinja)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard

TEMPLATE = Path(__file__).resolve().parents[2] / "model_card.md"


def write_model_card(pipe, folder: Path, **fields) -> Path:
    """Render the card for ``pipe`` into ``folder/README.md``; ``fields`` override the defaults."""
    a = pipe.assets.config
    values = {
        "license": "apache-2.0",
        "model_name": "AniPortraitGAN (aniportrait_hub)",
        "preset": f"{sum(p.numel() for p in pipe.radiance.parameters()):,} radiance parameters",
        "body_asset": a.source,
        "face_asset": f"{a.basis_name} expression basis, {a.id_dim} identity components",
        "expression_basis": a.basis_name,
        "training_data": "Untrained weights (initialisation only)." if pipe.priors.config.source == "synthetic"
        else f"Label priors from: {pipe.priors.config.source}.",
    }
    values.update(fields)
    template = TEMPLATE.read_text() if TEMPLATE.is_file() else "# {{ model_name }}\n"
    card = ModelCard(_render(template, values))
    path = folder / "README.md"
    card.save(path)
    return path


def _render(template: str, values: dict) -> str:
    import jinja2

    return jinja2.Template(template).render(**values)
