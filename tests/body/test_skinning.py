import torch

from aniportrait_hub.body import apply_inverse_transforms, inverse_skinning
from aniportrait_hub.body.skinning import nearest_vertices


def test_nearest_vertices_hand_computed():
    verts = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 2, 0]]])
    pts = torch.tensor([[[0.9, 0.1, 0], [0.1, 1.5, 0], [-3, 0, 0]]])
    idx, dist = nearest_vertices(pts, verts)
    assert idx.tolist() == [[1, 2, 0]]
    assert torch.allclose(dist, torch.tensor([[0.02**0.5, (0.01 + 0.25) ** 0.5, 3.0]]), atol=1e-6)


def test_inverse_lbs_of_posed_vertices_returns_neutral_vertices(body):
    torch.manual_seed(0)
    out = body(torch.randn(2, 10) * 0.7, (torch.rand(2, 6, 3) - 0.5) * 1.0)
    cand = body.candidate_vertex_ids
    sk = inverse_skinning(out.vertices[:, cand], out, cand, return_transforms=True)
    assert sk.neutral_points.shape == (2, cand.numel(), 3)
    assert (sk.neutral_points - out.neutral_vertices[:, cand]).abs().max() < 1e-4
    assert sk.distance.max() < 1e-5
    # The same through the forward transforms (the tensor D^p smooths).
    back = apply_inverse_transforms(out.vertices[:, cand], sk.transforms)
    assert (back - out.neutral_vertices[:, cand]).abs().max() < 1e-4


def test_points_near_a_vertex_follow_its_transform(body):
    torch.manual_seed(1)
    out = body(torch.zeros(1, 10), (torch.rand(1, 6, 3) - 0.5))
    cand = body.candidate_vertex_ids
    v = cand[[10, 500, 3000]]
    pts = out.vertices[:, v] + 1e-4
    sk = inverse_skinning(pts, out, cand)
    t = out.vertex_transforms[0, sk.vertex_index[0]]
    expected = torch.linalg.solve(t[:, :3, :3], (pts[0] - t[:, :3, 3]).unsqueeze(-1))[..., 0]
    assert torch.allclose(sk.neutral_points[0], expected, atol=1e-6)
    assert (sk.distance < 2e-4).all()


def test_apply_inverse_transforms_undoes_blended_transforms():
    """Cramer's-rule inverse of many blended (non-rigid) 4x4 transforms, against LAPACK."""
    import torch

    g = torch.Generator().manual_seed(0)
    t = torch.eye(4).repeat(2, 500, 1, 1)
    t[..., :3, :3] += 0.3 * torch.randn(2, 500, 3, 3, generator=g)
    t[..., :3, 3] = torch.randn(2, 500, 3, generator=g)
    x = torch.randn(2, 500, 3, generator=g)
    posed = (t[..., :3, :3] @ x.unsqueeze(-1))[..., 0] + t[..., :3, 3]
    assert torch.allclose(apply_inverse_transforms(posed, t), x, atol=1e-4)
