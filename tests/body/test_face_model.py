import numpy as np
import pytest
import torch
from scipy.io import savemat
from scipy.spatial.transform import Rotation

from aniportrait_hub.body import AssetError, FaceModel
from aniportrait_hub.body.face_model import BFM_PLACEMENT_KEYPOINTS


def test_open_face_has_52_named_arkit_units_and_80_identity_components(face):
    assert face.num_expression == 52 and face.num_identity == 80
    assert face.exp_names[24] == "jawOpen" and "eyeBlinkLeft" in face.exp_names
    assert face.basis_name == "arkit52"
    assert {"nose_tip", "left_eye_outer", "right_mouth_corner", "chin"} <= set(face.landmark_names)


def test_forward_is_the_3dmm_formula(face):
    ident = torch.zeros(2, 80)
    ident[0, 3] = 1.5
    exp = torch.zeros(2, 52)
    exp[1, 24] = 0.7
    out = face(ident, exp)
    assert torch.allclose(out.vertices[0] - face.mean, 1.5 * face.id_basis[3], atol=1e-6)
    assert torch.allclose(out.vertices[1] - face.mean, 0.7 * face.exp_basis[24], atol=1e-6)
    assert torch.equal(out.landmarks, out.vertices[:, face.landmark_ids])


def test_each_expression_unit_moves_only_face_vertices(body, face):
    dominant = body.smpl.lbs_weights.argmax(1)
    face_vertices = torch.zeros(body.num_vertices, dtype=torch.bool)
    face_vertices[face.body_vertex_ids] = True
    offsets = face.body_expression_offsets(torch.eye(52))  # one unit per row
    moved = offsets.norm(dim=-1) > 0  # [52, V]
    assert moved.any(dim=1).all(), "every unit moves something"
    assert not moved[:, ~face_vertices].any(), "no unit moves a vertex off the face"
    # ... and no unit reaches the shoulders, arms or torso below the neck.
    torso = ~torch.isin(dominant, torch.tensor([9, 12, 15]))
    assert not moved[:, torso].any()


def test_expression_offsets_pose_with_the_body(body, face):
    exp = torch.zeros(1, 52)
    exp[0, 24] = 1.0  # jawOpen
    off = face.body_expression_offsets(exp)
    plain = body(torch.zeros(1, 10), torch.zeros(1, 6, 3))
    opened = body(torch.zeros(1, 10), torch.zeros(1, 6, 3), rest_offsets=off)
    chin = body.landmark_vertex_ids["chin"]
    assert opened.vertices[0, chin, 1] < plain.vertices[0, chin, 1] - 0.005  # the chin drops
    assert torch.equal(opened.joints, plain.joints)


def test_bad_coefficients(face):
    with pytest.raises(ValueError, match=r"expression must be a tensor \[B, 52\] for this face model \(arkit52\)"):
        face(torch.zeros(1, 80), torch.zeros(1, 64))
    with pytest.raises(ValueError, match="batch sizes differ"):
        face(torch.zeros(2, 80), torch.zeros(1, 52))


def _write_synthetic_bfm(path, body, face, scale, rot, trans):
    """A file in Deep3DFaceRecon's BFM_model_front.mat layout, made from the open face under a
    known similarity transform (so the correct placement is known)."""
    mean = face.mean.double().numpy()
    to_bfm = lambda x: (x - trans) @ rot / scale  # inverse of dst = s R src + t
    bfm_mean = to_bfm(mean)
    n = len(mean)
    rng = np.random.default_rng(0)
    exp = rng.normal(size=(64, n, 3)) * 0.01
    ident = rng.normal(size=(80, n, 3)) * 0.01
    # 68 keypoints: put the ones the placement uses on the matching landmark vertices.
    kp = rng.integers(0, n, 68)
    names = face.landmark_names
    for name, (k,) in BFM_PLACEMENT_KEYPOINTS.items():
        kp[k] = int(face.landmark_ids[names.index(name)])
    savemat(path, {
        "meanshape": bfm_mean.reshape(1, -1),
        "idBase": ident.reshape(80, -1).T,
        "exBase": exp.reshape(64, -1).T,
        "keypoints": (kp + 1).reshape(1, -1).astype(np.float64),
        "tri": np.array([[1, 2, 3]], dtype=np.float64),
    })
    return exp


def test_bfm_layout_file_is_placed_on_the_head(tmp_path, body, face):
    rot = Rotation.from_euler("xyz", [0.2, -0.3, 0.1]).as_matrix()
    scale, trans = 0.09, np.array([0.01, 1.4, 0.05])  # "decimetres" to metres, shifted
    path = tmp_path / "BFM_model_front.mat"
    exp = _write_synthetic_bfm(path, body, face, scale, rot, trans)
    bfm = FaceModel.from_bfm_mat(path, body)
    assert bfm.num_identity == 80 and bfm.num_expression == 64 and bfm.basis_name == "bfm09"
    # Deep3DFaceRecon recentres the mean, so placement is checked up to that shift: the placed
    # mean must coincide with the body face it was made from.
    assert np.abs(bfm.mean.numpy() - face.mean.numpy()).max() < 1e-5
    # Bases are carried by the same rotation and scale.
    assert np.allclose(bfm.exp_basis[5].numpy(), scale * exp[5] @ rot.T, atol=1e-6)
    # Body vertices on the face read their own face vertex.
    assert len(bfm.body_vertex_ids) > 3000
    coeff = torch.zeros(1, 64)
    coeff[0, 5] = 1.0
    body_off = bfm.body_expression_offsets(coeff)
    assert torch.allclose(body_off[0, bfm.body_vertex_ids], bfm.exp_basis[5][bfm.body_face_ids], atol=1e-7)


def test_bfm_errors(tmp_path, body):
    with pytest.raises(AssetError, match="not found"):
        FaceModel.from_bfm_mat(tmp_path / "none.mat", body)
    bad = tmp_path / "bad.mat"
    bad.write_text("not matlab")
    with pytest.raises(AssetError, match="not a readable MATLAB"):
        FaceModel.from_bfm_mat(bad, body)
    partial = tmp_path / "partial.mat"
    savemat(partial, {"meanshape": np.zeros((1, 30))})
    with pytest.raises(AssetError, match=r"missing BFM field\(s\) \['idBase', 'exBase', 'keypoints'\]"):
        FaceModel.from_bfm_mat(partial, body)


def test_body_offsets_add_identity_and_expression(face):
    ident, exp = torch.zeros(1, 80), torch.zeros(1, 52)
    ident[0, 2], exp[0, 24] = 1.0, 0.5
    both = face.body_offsets(ident, exp)
    assert torch.allclose(both, face.body_offsets(identity=ident) + face.body_expression_offsets(exp), atol=1e-7)
    assert torch.allclose(both[0, face.body_vertex_ids], (face.id_basis[2] + 0.5 * face.exp_basis[24])[face.body_face_ids],
                          atol=1e-7)
