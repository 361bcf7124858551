"""Shapes and hand-computable starts of the networks."""

import torch
import torch.nn.functional as F

from aniportrait_hub.conditioning.mapping import FiLMMapping
from aniportrait_hub.fields import FiLMSiren, ManifoldPredictor, RadianceGenerator
from aniportrait_hub.rendering.superres import ManifoldSuperResolution


def test_manifold_predictor_starts_as_concentric_spheres():
    torch.manual_seed(0)
    m = ManifoldPredictor()
    pts = torch.randn(2000, 3) * 0.2
    s = m(pts)
    # Sphere initialisation: s ~ 70 |x| (loose: the random ReLU MLP approximates |x|).
    ratio = s / (70 * pts.norm(dim=-1))
    assert s.shape == (2000,) and 0.6 < ratio.median() < 1.6
    assert torch.allclose(m.levels, torch.linspace(23, 8, 24))


def test_film_mapping_frequencies_are_15f_plus_30():
    torch.manual_seed(0)
    mp = FiLMMapping(160, 64, 2, num_layers=3, width=8)
    film = mp(torch.zeros(4, 160))
    raw = mp.net(torch.zeros(4, 160)).view(4, 2, 3, 8)
    assert film.freqs.shape == (4, 3, 8) and torch.allclose(film.freqs, raw[:, 0] * 15 + 30)
    layer = FiLMSiren(3, 8, first=True)
    assert layer.linear.weight.abs().max() <= 1 / 3
    x = torch.randn(4, 5, 3)
    assert torch.allclose(layer(x, film.freqs[:, 0], film.phases[:, 0]),
                          torch.sin(film.freqs[:, 0, None] * layer.linear(x) + film.phases[:, 0, None]))


def test_radiance_generator_shapes_and_ranges():
    torch.manual_seed(0)
    phi = RadianceGenerator(hidden=32, num_layers=3, mapping_hidden=32, mapping_depth=2, feature_channels=5)
    film = phi.mapping(torch.randn(2, 160))
    out = phi(torch.rand(2, 7, 3) - 0.5, torch.nn.functional.normalize(torch.randn(2, 7, 3), dim=-1), film)
    assert out.rgb.shape == (2, 7, 3) and out.sigma.shape == (2, 7) and out.features.shape == (2, 7, 5)
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1


def test_untrained_super_resolution_is_a_bilinear_upsampler():
    torch.manual_seed(0)
    u = ManifoldSuperResolution(in_channels=12, nf=8, gc=4, num_rrdb=1, scale=4, z_dim=160, style_dim=16,
                                mapping_hidden=16)
    maps = torch.rand(2, 3, 12, 8, 8)
    style = u.mapping(torch.randn(2, 160))
    out = u(maps, style)
    assert out.shape == (2, 3, 4, 32, 32)
    ref = F.interpolate(maps.view(6, 12, 8, 8)[:, :4], scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.allclose(out.view(6, 4, 32, 32), ref.clamp(0, 1), atol=1e-6)
