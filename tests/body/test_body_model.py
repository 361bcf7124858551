import math

import numpy as np
import pytest
import smplx
import torch
from scipy.spatial.transform import Rotation

from aniportrait_hub.body import OPEN_ASSET_PATH, AssetError, BodyModel, WorldFrame
from aniportrait_hub.body.conventions import HEAD


def _world(body, metric, origin):
    return (metric - origin[:, None]) / body.world_frame.scale


def test_open_asset_loads_through_smplx_and_fits_budget(body):
    assert isinstance(body.smpl, smplx.SMPL)
    assert OPEN_ASSET_PATH.stat().st_size < 15e6
    assert (OPEN_ASSET_PATH.parent / "LICENSE_ASSETS.md").is_file()
    betas, eul = torch.randn(2, 10) * 0.5, (torch.rand(2, 6, 3) - 0.5) * 0.8
    ours = body(betas, eul)
    theirs = body.smplx_forward(betas, eul)  # smplx's own SMPL.forward
    assert torch.allclose(_world(body, theirs.vertices, ours.origin_m), ours.vertices, atol=1e-5)
    assert torch.allclose(_world(body, theirs.joints[:, :24], ours.origin_m), ours.joints, atol=1e-5)


def test_zero_pose_is_the_canonical_mean_pose(body):
    betas = torch.zeros(1, 10)
    out = body(betas, torch.zeros(1, 6, 3))
    assert torch.equal(out.vertices, out.neutral_vertices)
    assert torch.allclose(out.vertex_transforms, torch.eye(4).expand_as(out.vertex_transforms), atol=1e-5)
    # Independent construction of METHOD.md's canonical pose with scipy's Euler rotations.
    rest = body.rest_rotations.double().numpy()
    rot = rest.copy()
    rot[15] = Rotation.from_euler("x", 0.1554).as_matrix() @ rest[15]
    rot[16] = Rotation.from_euler("ZYX", [-1.05, 0, 0.13]).as_matrix() @ rest[16]
    rot[17] = Rotation.from_euler("ZYX", [1.05, 0, 0.13]).as_matrix() @ rest[17]
    rot = torch.from_numpy(rot).float()[None]
    ref = body.smpl(betas=betas, global_orient=rot[:, :1], body_pose=rot[:, 1:], pose2rot=False)
    assert torch.allclose(_world(body, ref.vertices, out.origin_m), out.vertices, atol=1e-5)
    # Arms lowered ~60 deg from SMPL's horizontal T-pose.
    for sh, el in ((16, 18), (17, 19)):
        arm = out.joints[0, el] - out.joints[0, sh]
        below = math.degrees(math.asin(-arm[1] / arm.norm()))
        assert 55 < below < 65, below


def test_head_rotation_moves_head_and_leaves_pelvis(body):
    betas = torch.zeros(1, 10)
    eul = torch.zeros(1, 6, 3)
    base = body(betas, eul)
    eul[0, 3] = torch.tensor([0.3, 0.4, -0.2])  # row 3 = joint 15 (head)
    moved = body(betas, eul)
    dominant = body.smpl.lbs_weights.argmax(1)
    head = dominant == HEAD
    shift = (moved.vertices - base.vertices).norm(dim=-1)[0]
    assert shift[head].mean() > 0.02  # world units (~2.4 cm)
    lower = torch.isin(dominant, torch.tensor([0, 1, 2, 4, 5, 7, 8, 10, 11]))
    assert shift[lower].max() < 1e-6
    assert torch.allclose(moved.joints[0, 0], base.joints[0, 0], atol=1e-7)
    assert torch.allclose(moved.joints[0, 12], base.joints[0, 12], atol=1e-7)
    # The head transform is rigid and rotates by exactly the requested local rotation.
    r = moved.head_transform[0, :3, :3]
    assert torch.allclose(r @ r.T, torch.eye(3), atol=1e-5)
    expected = Rotation.from_euler("ZYX", [0.3, 0.4, -0.2]).as_matrix()
    canon = Rotation.from_euler("x", 0.1554).as_matrix()
    got = r.double().numpy() @ canon  # neutral -> posed = R_given R_c R_c^-1 in the parent frame
    assert np.allclose(got, expected @ canon, atol=1e-5)


def test_world_frame_puts_face_centre_at_origin(body):
    out = body(torch.zeros(1, 10), torch.zeros(1, 6, 3))
    lm = body.landmark_vertex_ids
    # The open asset's frame is derived from its eye and mouth corners in the canonical pose.
    ids = [lm[k] for k in ("left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
                           "left_mouth_corner", "right_mouth_corner")]
    centre = out.neutral_vertices[0, ids].mean(0) * body.world_frame.scale
    assert centre.norm() < 1e-5
    authors = WorldFrame.authors_smpl()
    assert authors.scale == pytest.approx(1.17751, abs=1e-5)
    assert authors.face_center_offset[1] == pytest.approx(0.150620, abs=1e-5)


@pytest.mark.parametrize(
    "betas, eulers, message",
    [
        (torch.zeros(1, 11), torch.zeros(1, 6, 3), r"betas must be a tensor \[B, 10\]"),
        (torch.zeros(1, 10), torch.zeros(1, 5, 3), r"joint_eulers must be a tensor \[B, 6, 3\]"),
        (torch.zeros(2, 10), torch.zeros(1, 6, 3), "batch sizes differ"),
        (torch.full((1, 10), 7.0), torch.zeros(1, 6, 3), r"betas value 7.000 std is outside the allowed range"),
        (torch.zeros(1, 10), torch.full((1, 6, 3), 4.0), r"joint_eulers value 4.000 rad is outside"),
        (torch.zeros(1, 10), torch.full((1, 6, 3), float("nan")), "NaN"),
    ],
)
def test_bad_inputs_name_the_value(body, betas, eulers, message):
    with pytest.raises(ValueError, match=message):
        body(betas, eulers)


def test_missing_and_malformed_asset_files(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        BodyModel.from_open_default(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(AssetError, match="not a readable .npz"):
        BodyModel.from_open_default(junk)
    arrays = dict(np.load(OPEN_ASSET_PATH))
    del arrays["J_regressor"]
    partial = tmp_path / "partial.npz"
    np.savez(partial, **arrays)
    with pytest.raises(AssetError, match=r"missing SMPL field\(s\) \['J_regressor'\]"):
        BodyModel.from_open_default(partial)
    arrays = dict(np.load(OPEN_ASSET_PATH))
    arrays["weights"] = arrays["weights"][:, :20]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(AssetError, match="'weights' has shape"):
        BodyModel.from_open_default(bad)
    with pytest.raises(AssetError, match="convert it first"):
        BodyModel.from_smpl_file(tmp_path / "SMPL_NEUTRAL.pkl")


def test_posing_a_vertex_subset_matches_the_whole_mesh(body, face):
    g = torch.Generator().manual_seed(3)
    betas = torch.randn(2, 10, generator=g) * 0.5
    eulers = torch.randn(2, 6, 3, generator=g) * 0.2
    fid, exp = torch.randn(2, 80, generator=g) * 0.5, torch.rand(2, 52, generator=g) * 0.5
    ids = torch.tensor([5038, 7285, 0, 13000, 7285, 991])  # nose, mouth corner, body vertices, a repeat
    full = body(betas, eulers, rest_offsets=face.body_offsets(fid, exp))
    sub = body(betas, eulers, rest_offsets=face.body_offsets(fid, exp, vertex_ids=ids), vertex_ids=ids)
    assert torch.allclose(sub.vertices, full.vertices[:, ids], atol=1e-6)
    assert torch.allclose(sub.vertex_transforms, full.vertex_transforms[:, ids], atol=1e-6)
    # joints of a subset come from the joint regressor contracted with the shape basis: the same
    # linear map, summed in another order
    assert torch.allclose(sub.joints, full.joints, atol=1e-6)
    assert torch.allclose(sub.joint_transforms, full.joint_transforms, atol=1e-6)
    assert torch.allclose(face.body_offsets(fid, exp, vertex_ids=ids), face.body_offsets(fid, exp)[:, ids])
    # without per-vertex transforms (the label fit's path): the same vertices and joints
    lean = body(betas, eulers, rest_offsets=face.body_offsets(fid, exp, vertex_ids=ids), vertex_ids=ids,
                vertex_transforms=False)
    assert lean.vertex_transforms is None and lean.neutral_vertices is None
    for k in ("vertices", "joints", "joint_transforms", "head_transform"):
        assert torch.allclose(getattr(lean, k), getattr(sub, k), atol=1e-6), k
