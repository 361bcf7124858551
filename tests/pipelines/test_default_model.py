"""The embedded default model: it ships, loads by its package constant, and renders people
that mediapipe's face detector sees as faces."""

import math

import numpy as np
import pytest
import torch

from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN
from aniportrait_hub.pretrained import load_pipeline


@pytest.fixture(scope="module")
def pipe():
    return AniPortraitGAN.from_pretrained(DEFAULT_MODEL)


def test_default_model_ships_small_and_complete():
    size = sum(p.stat().st_size for p in DEFAULT_MODEL.rglob("*") if p.is_file())
    assert size < 60 * 2**20
    card = (DEFAULT_MODEL / "README.md").read_text()
    for needle in ("pipeline_tag:", "library_name: diffusers", "license:", "misuse", "Synthetic only"):
        assert needle in card


def test_default_is_what_the_tools_load(pipe):
    other = load_pipeline("default")
    for a, b in zip(pipe.radiance.state_dict().values(), other.radiance.state_dict().values()):
        assert torch.equal(a, b)


def test_default_renders_faces_mediapipe_finds(pipe):
    from aniportrait_hub.evaluation.metrics import FaceProbe

    found = 0
    with FaceProbe() as probe:
        for seed in range(3):
            cache = pipe.bake_identity(seed=seed, truncation_psi=0.7)
            out = pipe.render_frame(cache, torch.zeros(1, pipe.assets.config.exp_dim), torch.zeros(1, 6, 3),
                                    torch.tensor([[math.pi / 2, math.pi / 2]]), resolution=256)
            img = (out.image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
            found += probe.read(img).detected
            # A head-and-shoulder person on white: foreground in the middle, background in the
            # top corners.
            m = out.mask[0, 0].numpy()
            assert m[128, 128] > 0.9 and m[5, 5] < 0.1 and m[5, -5] < 0.1
    assert found >= 2
