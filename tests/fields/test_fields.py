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


def test_feature_plane_warm_start_renders_unchanged_then_learns_a_texel(tmp_path):
    """A trained plane-less phi given a feature plane renders exactly as before; one texel of
    the plane then moves the colour where it lies (and only near there), and the plane survives
    save / load."""
    torch.manual_seed(0)
    phi = RadianceGenerator(z_dim=16, hidden=32, num_layers=3, mapping_hidden=32, mapping_depth=2,
                            feature_channels=2)
    film = phi.mapping(torch.randn(1, 16))
    pts = torch.tensor([[[0.0, -0.028, 0.05], [0.2, 0.15, 0.05]]])  # texel (8, 8) of 17^2; far away
    view = torch.tensor([0.0, 0.0, -1.0]).expand(1, 2, 3)
    before = phi(pts, view, film)
    wide = phi.with_plane(17, 4)
    after = wide(pts, view, film)
    # 1e-6, not bit-equal: the widened colour layer's matmul (zero columns added) may round
    # differently on some CPUs' kernels
    assert torch.allclose(before.rgb, after.rgb, atol=1e-6) and torch.allclose(before.sigma, after.sigma, atol=1e-6)
    assert wide.plane.shape == (1, 4, 17, 17)
    with torch.no_grad():
        wide.plane[0, :, 8, 8] = 3.0  # the cell at (x, y) = (0, -0.028): the window's centre
    moved = wide(pts, view, film)
    assert (moved.rgb[0, 0] - before.rgb[0, 0]).abs().max() > 1e-3
    assert torch.allclose(moved.rgb[0, 1], before.rgb[0, 1], atol=1e-6)
    assert torch.allclose(moved.sigma, before.sigma, atol=1e-6)  # the plane feeds colour only
    wide.save_pretrained(tmp_path / "phi")
    loaded = RadianceGenerator.from_pretrained(tmp_path / "phi")
    assert torch.allclose(loaded(pts, view, film).rgb, moved.rgb, atol=1e-6)
    try:
        wide.with_plane(8, 2)
    except ValueError as err:
        assert "already has a feature plane" in str(err)
    else:
        raise AssertionError("a second plane was accepted")


def test_feature_plane_warp_moves_where_an_identity_reads_the_plane():
    """The warp is a linear function of the latent: zero reads the plane at the point itself; a
    shift in the warp's bias reads it elsewhere (the cell at the centre, seen from a point
    displaced by that shift)."""
    torch.manual_seed(0)
    phi = RadianceGenerator(z_dim=4, hidden=16, num_layers=2, mapping_hidden=16, mapping_depth=2,
                            feature_channels=1, plane_resolution=17, plane_channels=2)
    with torch.no_grad():
        phi.plane[0, :, 8, 8] = 1.0
    z = torch.zeros(1, 4)
    centre = torch.tensor([[[0.0, -0.028, 0.0]]])
    assert torch.allclose(phi.plane_features(centre, phi.mapping(z).warp), torch.ones(1, 1, 2))
    with torch.no_grad():
        phi.plane_warp[-1, 2] = 0.055  # shift x by two cells (0.44 / 16 = 0.0275 each)
    film = phi.mapping(z)
    assert torch.allclose(film.warp, torch.tensor([[0.0, 0.0, 0.055, 0.0]]))
    assert torch.allclose(phi.plane_features(centre - torch.tensor([0.055, 0.0, 0.0]), film.warp),
                          torch.ones(1, 1, 2), atol=1e-5)
    assert phi.plane_features(centre, film.warp).abs().max() < 1e-6
    # Truncation keeps the warp (the body is not truncated); a batch slice carries it.
    assert torch.equal(film.lerp_to(film, 0.5).warp, film.warp) and film[0:1].warp.shape == (1, 4)
