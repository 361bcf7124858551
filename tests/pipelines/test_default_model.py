"""The embedded default model: it ships, loads by its package constant, and renders people
that mediapipe's face detector sees as faces."""

import math

import numpy as np
import pytest
import torch

from aniportrait_hub import DEFAULT_MODEL
from aniportrait_hub.pipelines.loading import load_pipeline


@pytest.fixture(scope="module")
def pipe(default_pipe):
    return default_pipe


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


def test_default_opens_its_mouth_and_closes_its_eyes(pipe):
    """What the face mesh reads on the default's face camera: the lips part under jawOpen and
    the lids narrow the eyes under a half blink and close them under a full one (the face-model
    guide of its D^e at the ray samples, held behind the face: without the hold a band of the
    canonical eye showed where the lids meet, and a full blink read wider than a half one); the
    opened mouth is dark inside, as the teacher's (RenderSettings.mouth_cavity: without it the
    opening showed stretched lip colour)."""
    from aniportrait_hub.evaluation.metrics import FaceProbe

    names = pipe.face_model().exp_names
    cache = pipe.bake_identity(seed=2001, truncation_psi=0.7)

    def read(image=False, **units):
        e = torch.zeros(1, len(names))
        for k, v in units.items():
            e[0, names.index(k)] = v
        out = pipe.render_frame(cache, e, torch.zeros(1, 6, 3), torch.tensor([[math.pi / 2, math.pi / 2]]),
                                resolution=16, face_resolution=256, low_res=False)
        img = (out.face_image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        r = probe.read(img)
        assert r.meshed
        return (r, img) if image else r

    def luminance(img, r, *landmarks):  # mean over a 5 x 5 patch at the landmarks' midpoint
        x, y = np.mean([r.mesh[i] for i in landmarks], 0).round().astype(int)
        return float(img[y - 2:y + 3, x - 2:x + 3].mean())

    with FaceProbe() as probe:
        neutral = read()
        opened, img = read(image=True, jawOpen=1.0)
        assert opened.mouth_opening() > neutral.mouth_opening() + 0.15
        assert luminance(img, opened, 13, 14) < 0.5 * luminance(img, opened, 1)  # the cavity vs the nose tip
        half = read(eyeBlinkLeft=0.5, eyeBlinkRight=0.5).eye_aspect_ratio()
        assert half < 0.8 * neutral.eye_aspect_ratio()
        assert read(eyeBlinkLeft=1.0, eyeBlinkRight=1.0).eye_aspect_ratio() < min(half, 0.6 * neutral.eye_aspect_ratio())
