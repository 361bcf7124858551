"""Hand-computable checks of the rendering and deformation building blocks."""

import math

import pytest
import torch

from aniportrait_hub.conditioning.mapping import FiLMParams
from aniportrait_hub.deformation import ExpressionDeformer, PoseDeformer
from aniportrait_hub.rendering.cameras import Camera, camera_rays, look_at, portrait_camera, project
from aniportrait_hub.rendering.compositing import composite, sigma_to_alpha
from aniportrait_hub.rendering.intersection import find_crossings, find_crossings_scan


def _sphere_field(points):
    return 10.0 * points.norm(dim=-1)  # level l is the sphere of radius l / 10


def test_crossings_of_spheres_land_on_the_spheres():
    levels = torch.tensor([3.0, 2.0, 1.0])  # radii 0.3, 0.2, 0.1
    origin = torch.tensor([0.0, 0.0, 2.0])
    dirs = torch.tensor([[0.0, 0.0, -1.0], [0.03, 0.0, -1.0], [0.0, 0.12, -1.0]])  # impact 0, 0.06, 0.24
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    t = torch.linspace(1.5, 2.5, 64)
    pts = origin + dirs[:, None] * t[None, :, None]  # [R, S, 3]
    cr = find_crossings(_sphere_field(pts)[None], levels)
    hit_t = cr.gather(t.view(1, 1, -1, 1).expand(1, 3, -1, 1))[0, ..., 0]  # [R, L]
    # Exact ray-sphere entry: t = o.d... for |o + t d| = r.
    b = (origin * dirs).sum(-1, keepdim=True)
    c = origin.dot(origin) - (levels / 10) ** 2
    disc = b**2 - c
    exact = -b - disc.clamp_min(0).sqrt()
    valid = disc[..., :] > 0
    assert torch.equal(cr.valid[0], valid)
    assert torch.allclose(hit_t[0], exact[0], atol=1e-5)  # central ray: |x| linear in t, exact
    assert torch.allclose(hit_t[valid], exact[valid], atol=2e-3)  # chords: linear interpolation
    # The crossings really lie on the spheres.
    pos = origin + dirs[:, None] * hit_t[..., None]
    radius = pos.norm(dim=-1)
    assert torch.allclose(radius[valid], (levels / 10).expand(3, -1)[valid], atol=2e-3)


def test_only_downward_first_crossings_count():
    s = torch.tensor([[[0.0, 5.0, 1.0, 5.0, 1.0]]])  # up, down (first), up, down
    cr = find_crossings(s, torch.tensor([3.0]))
    assert cr.valid.item() and cr.index.item() == 1 and cr.frac.item() == pytest.approx(0.5)
    assert not find_crossings(s, torch.tensor([7.0])).valid.item()
    usable = torch.tensor([[[True, True, False, True, True]]])
    cr = find_crossings(s, torch.tensor([3.0]), usable)
    assert cr.index.item() == 3  # the first crossing touches an unusable sample


def test_crossing_search_equals_the_scan_on_wandering_fields():
    """The running-minimum search finds exactly the scan's first downward crossings, also where
    the field rises and falls, starts below a level, or usable samples have gaps."""
    g = torch.Generator().manual_seed(0)
    lv = torch.linspace(3, -3, 7)
    for trial in range(12):
        s = torch.randn(2, 200, 40, generator=g).cumsum(-1) * (-1 if trial % 2 else 1)
        usable = torch.rand(2, 200, 40, generator=g) > 0.2 if trial % 3 else None
        a, b = find_crossings(s, lv, usable), find_crossings_scan(s, lv, usable)
        assert torch.equal(a.valid, b.valid) and torch.equal(a.index, b.index), trial
        assert torch.allclose(a.frac, b.frac), trial
    # differentiable through the merged rows: a few rays (below the full-scan share) need the scan
    s = torch.linspace(5, -5, 40).repeat(1, 50, 1)
    s[0, :3, 0] = -4.0  # these rays start below every level but 5..-5's lowest
    s.requires_grad_(True)
    cr = find_crossings(s, lv)
    assert torch.equal(cr.valid, find_crossings_scan(s, lv).valid)
    cr.frac.sum().backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_compositing_matches_the_formula_by_hand():
    color = torch.tensor([[[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]])  # [1, 1, 3, 3]
    alpha = torch.tensor([[[0.5, 0.25, 0.8]]])
    dist = torch.tensor([[[2.0, 1.0, 3.0]]])  # order by distance: red, blue, green
    valid = torch.tensor([[[True, True, False]]])  # green missed
    out = composite(color, alpha, dist, valid)
    # red: T=1, a=.25 -> w=.25; blue: T=.75, a=.5 -> w=.375; background 1 - .625 = .375 (white)
    expected = torch.tensor([0.25 + 0.375, 0.375, 0.375 + 0.375])
    assert torch.allclose(out.image[0, 0], expected)
    assert out.mask[0, 0].item() == pytest.approx(0.625)
    assert out.depth[0, 0].item() == pytest.approx(0.25 * 1 + 0.375 * 2 + 0.375 * 2)  # far = 2
    assert sigma_to_alpha(torch.tensor(0.0)).item() == pytest.approx(1 - math.exp(-0.04 * math.log(2)))


def test_compositing_is_the_same_whatever_order_the_levels_come_in():
    """Levels already in depth order skip the sort; shuffled ones are sorted: same result."""
    g = torch.Generator().manual_seed(0)
    color, alpha = torch.rand(2, 50, 6, 3, generator=g), torch.rand(2, 50, 6, generator=g)
    dist = torch.rand(2, 50, 6, generator=g).sort(-1).values
    valid = torch.rand(2, 50, 6, generator=g) > 0.3
    dist = torch.where(valid, dist, torch.full_like(dist, -5.0))  # invalid entries hold junk
    ordered = composite(color, alpha, dist, valid)
    perm = torch.randperm(6, generator=g)
    shuffled = composite(color[:, :, perm], alpha[..., perm], dist[..., perm], valid[..., perm])
    for a, b in zip((ordered.image, ordered.depth, ordered.mask), (shuffled.image, shuffled.depth, shuffled.mask)):
        assert torch.allclose(a, b, atol=1e-6)


def test_pose_deformer_keeps_a_constant_field_at_init():
    dp = PoseDeformer(kernel=(5, 9, 9))
    field = torch.randn(2, 16, 1, 1, 1).expand(2, 16, 13, 20, 17).contiguous()
    assert torch.allclose(dp(field), field, atol=1e-5)
    # ... and averages (a smoothing filter never leaves the range of its input).
    noisy = torch.rand(1, 16, 8, 16, 16)
    out = dp(noisy)
    assert out.min() >= noisy.min() - 1e-6 and out.max() <= noisy.max() + 1e-6


def test_pose_deformer_gradients_are_pytorchs_own():
    """D^p's gradients through :class:`DepthwiseConv3d` (FFT, the CPU default) equal
    PyTorch's depthwise conv3d backward, for the kernels and the field, with trained
    (non-uniform) kernels and a batch of 2."""
    dp = PoseDeformer(kernel=(3, 5, 5))
    torch.manual_seed(0)
    with torch.no_grad():
        dp.weight1.uniform_(0.5, 1.5)
        dp.weight2.uniform_(0.5, 1.5)
    field = torch.randn(2, 16, 6, 12, 10, dtype=torch.float64)
    dp = dp.double()
    grads = {}
    for mode in ("always", "never"):
        dp.custom_backward = mode
        x = field.clone().requires_grad_(True)
        dp.zero_grad()
        (dp(x) * torch.linspace(-1, 1, x.numel(), dtype=x.dtype).view_as(x)).sum().backward()
        grads[mode] = (dp.weight1.grad.clone(), dp.weight2.grad.clone(), x.grad.clone())
    for a, b in zip(grads["always"], grads["never"]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), (a - b).abs().max()
    assert grads["always"][0].abs().max() > 0


def test_expression_deformer_is_the_identity_at_init_and_zero_off_the_face():
    de = ExpressionDeformer()
    film = de.mapping(torch.randn(3, 80), torch.rand(3, 52))
    pts = torch.rand(3, 100, 3) - 0.5
    assert torch.equal(de(pts, film), torch.zeros_like(pts))
    torch.nn.init.normal_(de.out.weight)
    far = torch.tensor([[[0.0, -0.4, 0.0], [0.3, 0.0, 0.0]]]).expand(3, -1, -1)
    assert torch.equal(de(far, film), torch.zeros_like(far))
    assert de(torch.zeros(3, 1, 3) + torch.tensor([0.0, -0.01, -0.02]), film).abs().sum() > 0
    assert de.region_weight(torch.tensor([0.0, -0.01, -0.02])).item() == 1.0


def test_expression_basis_is_linear_in_the_expression_and_starts_at_zero():
    """With ``basis_hidden`` D^e adds sum_k z_exp[k] B_k(x): zero at init, linear in the
    expression coefficients (the FiLM-SIREN part silenced), and it refuses FiLM parameters that
    do not carry them."""
    de = ExpressionDeformer(basis_hidden=16, basis_layers=2)
    fid, e = torch.randn(2, 80), torch.rand(2, 52)
    pts = (torch.rand(2, 50, 3) - 0.5) * 0.1
    assert torch.equal(de(pts, de.mapping(fid, e)), torch.zeros_like(pts))
    torch.nn.init.normal_(de.basis_out.weight, std=0.1)
    one = de(pts, de.mapping(fid, e))
    assert one.abs().max() > 0
    assert torch.allclose(de(pts, de.mapping(fid, 2 * e)), 2 * one, atol=1e-6)  # the SIREN's output is still 0
    assert torch.equal(de(pts, de.mapping(fid, torch.zeros(2, 52))), torch.zeros_like(pts))
    assert torch.equal(de.mapping(fid, e)[1:].coefficients, e[1:])  # a batch slice keeps its coefficients
    with pytest.raises(ValueError, match="expression basis"):
        de(pts, FiLMParams(torch.ones(2, 3, 128), torch.zeros(2, 3, 128)))


def test_portrait_camera_conventions():
    cam = portrait_camera(torch.tensor([[math.pi / 2, math.pi / 2]]), 1.895, 12.0, (0.0, 0.0, 0.0))
    assert torch.allclose(cam.origin, torch.tensor([[0.0, 0.0, 1.895]]), atol=1e-6)  # frontal: on +z
    o, d = camera_rays(cam, 2, 2)
    assert torch.allclose(d.mean(1), torch.tensor([[0.0, 0.0, -1.0]]), atol=1e-2)
    assert d[0, 0, 0] < 0 and d[0, 0, 1] > 0  # first pixel: top left
    side = portrait_camera(torch.tensor([[math.pi / 2, 0.3]]), 2.0, 12.0, (0.0, 0.0, 0.0))
    assert side.origin[0, 0] > 0  # yaw below pi/2 moves the camera toward +x (the subject's left)
    with pytest.raises(ValueError, match="outside"):
        portrait_camera(torch.tensor([[0.0, 1.0]]), 2.0, 12.0, (0.0, 0.0, 0.0))
    rot = look_at(torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1, 3))
    assert torch.allclose(rot[0] @ rot[0].T, torch.eye(3), atol=1e-6)
    assert isinstance(cam, Camera)


def test_projection_inverts_the_pixel_rays():
    cam = portrait_camera(torch.tensor([[1.4, 1.9]], dtype=torch.float64), 1.895, 12.0, (0.0, -0.0183, -0.0959))
    o, d = camera_rays(cam, 6, 8)
    uv = project(cam, o + 1.7 * d, 6, 8)[0]
    ys, xs = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    centres = torch.stack([xs + 0.5, ys + 0.5], -1).reshape(-1, 2).double()
    assert torch.allclose(uv, centres, atol=1e-9)  # pixel i covers [i, i + 1), as mediapipe's coordinates


def test_film_truncation_is_a_lerp():
    a = FiLMParams(torch.ones(1, 2, 3), torch.zeros(1, 2, 3))
    m = FiLMParams(torch.zeros(1, 2, 3), torch.ones(1, 2, 3))
    t = a.lerp_to(m, 0.7)
    assert torch.allclose(t.freqs, torch.full((1, 2, 3), 0.7)) and torch.allclose(t.phases, torch.full((1, 2, 3), 0.3))
