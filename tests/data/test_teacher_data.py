"""The teacher's 3D knowledge: appearance codes and canonical surface maps."""

import numpy as np
import torch

from aniportrait_hub.data.appearance import Appearance
from aniportrait_hub.data.appearance_code import CODE_DIM, decode, encode
from aniportrait_hub.data.canonical import canonical_maps, coverage
from aniportrait_hub.data.hair import HairStyle
from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
from aniportrait_hub.rendering.renderer import RenderSettings


def test_appearance_code_round_trip_and_sampling():
    rng = np.random.default_rng(0)
    for _ in range(100):
        look, style = Appearance.sample(rng), HairStyle.sample(rng)
        code = encode(look, style, rng)
        assert code.shape == (CODE_DIM,) and np.isfinite(code).all()
        back, bstyle = decode(code)
        np.testing.assert_allclose(back.skin, look.skin, atol=1e-3)
        np.testing.assert_allclose(back.clothing, look.clothing, atol=1e-3)
        np.testing.assert_allclose(back.hair, look.hair)
        assert back.bald == look.bald and bstyle.long == style.long
        assert abs(bstyle.length - style.length) < 1e-3
    # Decoding N(0, I) draws the synthesizer's own distribution (long hair 45 %, bald 5 %).
    z = np.random.default_rng(1).normal(size=(4000, CODE_DIM))
    people = [decode(c) for c in z]
    assert abs(np.mean([s.long for _, s in people]) - 0.45) < 0.03
    assert abs(np.mean([lk.bald for lk, _ in people]) - 0.05) < 0.015


def test_canonical_maps_see_the_front_of_the_person():
    synth = SyntheticRenderer(SynthConfig())
    st = RenderSettings()
    maps = canonical_maps(synth, synth.person(0), st, 32, 64, supersample=2)
    assert maps.z_lr.shape == (4, 32, 32) and maps.rgb_hr.shape == (64, 64, 3)
    z = maps.z_hr.astype(np.float32)
    hit = np.isfinite(z)
    # The face centre (canonical origin) is covered, and the nose is the front-most point of
    # the face's neighbourhood: z there lies within a few cm of 0.
    r, c = [int(round((0 - lo) / (hi - lo) * 63)) for lo, hi in (st.map_y_range, st.map_x_range)]
    assert hit[r, c] and -0.02 < z[r, c] < 0.06
    # Left and right of the head at eye height there is empty space, below is the body.
    assert not hit[r, 0] and not hit[r, -1]
    assert hit[0].mean() > 0.5  # bottom row (y_min): chest / shoulders
    # Coverage: a point behind the surface is inside, one in front is empty.
    zf = torch.tensor([0.0, 0.0])  # two sub-rays, both hitting at z = 0
    assert coverage(zf, torch.tensor(-0.01), 0.003).item() == 1.0
    assert coverage(zf, torch.tensor(0.01), 0.003).item() == 0.0
    assert coverage(torch.tensor([0.0, float("nan")]), torch.tensor(-0.01), 0.003).item() == 0.5


def test_person_and_render_are_deterministic_and_share_the_look():
    synth = SyntheticRenderer(SynthConfig(res=64, face_res=64))
    a, b = synth.person(3), synth.person(3)
    np.testing.assert_array_equal(a.look.skin, b.look.skin)
    _, img1 = synth.render(3)
    _, img2 = synth.render_person(synth.person(3))
    np.testing.assert_array_equal(img1["rgba"], img2["rgba"])
