"""D^e guided by the face model (ExpressionDeformer ``guide="face_model"``): it undoes the face
model's expression where the face is, sends the points of an opened mouth to the closed lip
seam, and refuses to run without its guide."""

import pytest
import torch

from aniportrait_hub.deformation.expression_deformer import (ExpressionDeformer, ExpressionGuide, imitation_targets,
                                                             seam_pairs)


def _jaw(face, b=1, value=1.0):
    e = torch.zeros(b, face.num_expression)
    e[:, face.exp_names.index("jawOpen")] = value
    return torch.zeros(b, face.num_identity), torch.zeros(b, 10), e


def test_guide_undoes_the_face_model_on_the_expressive_face(body, face):
    fid, betas, e = _jaw(face)
    de = ExpressionDeformer(guide="face_model")
    guide = ExpressionGuide.from_face_model(body, face, fid, betas, e)
    x_p, target = imitation_targets(body, face, fid, betas, e, face.body_vertex_ids)
    # Between the vertices (a point nudged 1 mm off each), as the renderer asks.
    q = x_p + torch.randn(x_p.shape, generator=torch.Generator().manual_seed(0)) * 0.001
    got = de(q, de.mapping(fid, e, guide=guide))
    miss = (got - target).pow(2).sum(-1).mean().sqrt()
    size = target.pow(2).sum(-1).mean().sqrt()
    assert size > 0.002 and miss < 0.25 * size  # the network alone at init misses all of it
    far = torch.tensor([[[0.0, -0.45, 0.0]]])  # the chest: outside the support, never moved
    assert torch.equal(de(far, de.mapping(fid, e, guide=guide)), torch.zeros_like(far))
    neutral = ExpressionGuide.from_face_model(body, face, fid, betas, torch.zeros_like(e))
    assert de(q, de.mapping(fid, 0 * e, guide=neutral)).abs().max() < 1e-6
    # A neutral face skips the neighbour search; the full search (taken when gradients are
    # wanted) gives exactly the same.
    searched = neutral.offsets_at(q.clone().requires_grad_(True), 4, 0.003, 0.015).detach()
    assert torch.equal(neutral.offsets_at(q, 4, 0.003, 0.015), searched)


def test_guide_openings_send_the_open_mouth_to_the_closed_seam(body, face):
    fid, betas, e = _jaw(face)
    seams = seam_pairs(body, face)
    x_p, t = imitation_targets(body, face, fid, betas, e, face.body_vertex_ids)
    u, lo = x_p[0, seams[:, 0]], x_p[0, seams[:, 1]]
    opened = (lo - u).norm(dim=-1) > 0.01
    mid_open = ((u + lo) / 2)[opened][None]  # the middle of the open mouth
    mid_closed = ((u + lo + t[0, seams[:, 0]] + t[0, seams[:, 1]]) / 2)[opened][None]
    de = ExpressionDeformer(guide="face_model", guide_openings=True)
    with_openings = ExpressionGuide.from_face_model(body, face, fid, betas, e, seams=seams)
    plain = ExpressionGuide.from_face_model(body, face, fid, betas, e)
    lands = mid_open + de(mid_open, de.mapping(fid, e, guide=with_openings))
    lands_plain = mid_open + de(mid_open, de.mapping(fid, e, guide=plain))
    err = (lands - mid_closed)[..., :2].norm(dim=-1).mean()
    err_plain = (lands_plain - mid_closed)[..., :2].norm(dim=-1).mean()
    assert err < 0.002 and err < 0.5 * err_plain
    # A closed mouth has no openings: the extra points are parked far from any query.
    closed = ExpressionGuide.from_face_model(body, face, fid, betas, torch.zeros_like(e), seams=seams)
    assert closed.points[0, x_p.shape[1]:].abs().min() > 100


def test_guided_deformer_needs_its_guide():
    de = ExpressionDeformer(guide="face_model")
    with pytest.raises(ValueError, match="guided by the face model"):
        de.mapping(torch.zeros(1, 80), torch.zeros(1, 52))
    with pytest.raises(ValueError, match="guide must be one of"):
        ExpressionDeformer(guide="mesh")


def test_guide_finds_where_rays_first_meet_the_expressive_face(body, face):
    """The renderer holds D^e behind this point (RenderSettings.expression_hold): rays toward
    the face stop on its front surface, rays away from it miss."""
    fid, betas, e = _jaw(face)
    guide = ExpressionGuide.from_face_model(body, face, fid, betas, e)
    v = guide.points[0, :len(face.body_vertex_ids)]
    front = v[v[:, 2] > v[:, 2].max() - 0.01][:50]  # vertices on the face's front
    o = (front + torch.tensor([0.0, 0.0, 1.0]))[None]
    d = torch.tensor([0.0, 0.0, -1.0]).expand_as(o)
    depth, hit, tri = guide.first_hits(o, d)
    assert torch.isfinite(depth).all() and (depth <= 1.0 + 1e-6).all() and (depth > 0.95).all()
    assert torch.cdist(hit[0], v).amin(-1).max() < 0.01  # on the surface, not beside it
    miss, _, tri_miss = guide.first_hits(o, -d)
    assert torch.isinf(miss).all()
    assert (tri >= 0).all() and (tri < len(guide.faces)).all() and (tri_miss == -1).all()
