"""Where mediapipe's landmarks lie on our body mesh (the correspondences label fitting uses).

mediapipe's face mesh has its own 468-point topology; fitting our body and face models to it
needs each used landmark as a point on our surface. :func:`build_embedding` finds them by
asking mediapipe itself, on synthetic renders with exact labels: each landmark becomes the
body vertex whose projection best matches mediapipe's point across varied people, poses and
expressions. Pose landmarks 11 and 12 (shoulders) become offsets from SMPL joints 16 / 17 in
the joint's rest frame.

    aniportrait landmarks [--n 60] [--out PATH]

rebuilds the shipped file (:data:`EMBEDDING_PATH`) for the open asset; run it for any other
body asset (e.g. a converted SMPL) and pass the file to the fitter.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

EMBEDDING_PATH = Path(__file__).parent / "mediapipe_open_body.npz"

#: mediapipe face-mesh indices used for fitting, by region (contour points are left out:
#: where the jaw line or temple lies on the surface depends on the view).
FACE_MESH_POINTS: dict[str, tuple[int, ...]] = {
    "right_eye": (33, 160, 158, 133, 153, 144, 159, 145),
    "left_eye": (263, 387, 385, 362, 380, 373, 386, 374),
    "right_brow": (70, 63, 105, 66, 107),
    "left_brow": (300, 293, 334, 296, 336),
    "nose": (1, 4, 5, 195, 197, 6, 98, 327, 2, 168),
    "outer_lips": (61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321),
    "inner_lips": (13, 14, 78, 308, 82, 312, 87, 317),
    "chin": (152, 199, 175, 18, 200),
    "cheeks": (50, 280, 205, 425, 117, 346),
    "forehead": (151, 9, 8),
}
#: mediapipe pose indices of the shoulders (subject's left, right) and the SMPL joints they follow.
POSE_SHOULDERS = (11, 12)
SHOULDER_JOINTS = (16, 17)


def face_mesh_indices() -> list[int]:
    return sorted({i for pts in FACE_MESH_POINTS.values() for i in pts})


@dataclasses.dataclass
class LandmarkEmbedding:
    """mediapipe landmarks as points of a body mesh."""

    mesh_index: np.ndarray
    """[L] mediapipe face-mesh indices."""
    vertex_ids: np.ndarray
    """[L, 3] the body-mesh triangle corners each landmark lies on."""
    barycentric: np.ndarray
    """[L, 3] its barycentric weights."""
    residual_px: np.ndarray
    """[L] median distance (pixels at the build resolution) between the embedded point's
    projection and mediapipe's landmark over the build renders (exact labels)."""
    shoulder_offsets: np.ndarray
    """[2, 3] pose landmarks 11 / 12 minus SMPL joints 16 / 17, in the joint's rest frame (m)."""
    num_vertices: int
    """Vertices of the body mesh it belongs to (checked on use)."""

    @property
    def corner_ids(self) -> np.ndarray:
        """[3L] the triangle corners, flattened: pose only these (``BodyModel(vertex_ids=...)``)."""
        return self.vertex_ids.reshape(-1)

    def face_points(self, vertices: torch.Tensor, corners_only: bool = False) -> torch.Tensor:
        """[B, L, 3] landmark positions from posed vertices: the whole mesh [B, V, 3], or with
        ``corners_only`` the vertices of :attr:`corner_ids` [B, 3L, 3]."""
        if not corners_only:
            if vertices.shape[1] != self.num_vertices:
                raise ValueError(f"this landmark embedding is for a {self.num_vertices}-vertex body, "
                                 f"the body has {vertices.shape[1]}; rebuild it with "
                                 "`aniportrait landmarks`")
            vertices = vertices[:, torch.as_tensor(self.corner_ids, device=vertices.device)]
        w = torch.as_tensor(self.barycentric, dtype=vertices.dtype, device=vertices.device)
        return (vertices.view(vertices.shape[0], -1, 3, 3) * w[..., None]).sum(2)

    def shoulder_points(self, joints: torch.Tensor, joint_transforms: torch.Tensor) -> torch.Tensor:
        """[B, 2, 3] where pose landmarks 11 / 12 lie, from posed joints and their transforms."""
        off = torch.as_tensor(self.shoulder_offsets, dtype=joints.dtype, device=joints.device)
        rot = joint_transforms[:, list(SHOULDER_JOINTS), :3, :3]
        return joints[:, list(SHOULDER_JOINTS)] + (rot @ off[None, :, :, None])[..., 0]

    def save(self, path: str | Path) -> None:
        np.savez(path, **{f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)})

    @classmethod
    def load(cls, path: str | Path = EMBEDDING_PATH) -> LandmarkEmbedding:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"landmark embedding not found: {path}; build it with "
                                    "`aniportrait landmarks`")
        with np.load(path) as z:
            missing = [f.name for f in dataclasses.fields(cls) if f.name not in z]
            if missing:
                raise ValueError(f"{path}: not a landmark embedding (missing {missing})")
            emb = cls(**{f.name: z[f.name] for f in dataclasses.fields(cls)})
        emb.num_vertices = int(emb.num_vertices)
        return emb


def _closest_surface_point(vertices: np.ndarray, faces: np.ndarray, point: np.ndarray) -> tuple[int, np.ndarray]:
    """Triangle and barycentric weights of the surface point nearest ``point`` (brute force
    over all triangles with trimesh's vectorised closest-point; avoids trimesh's rtree)."""
    import trimesh

    tris = vertices[faces]
    cps = trimesh.triangles.closest_point(tris, np.repeat(point[None], len(tris), 0))
    k = int(np.linalg.norm(cps - point, axis=1).argmin())
    return k, trimesh.triangles.points_to_barycentric(tris[k:k + 1], cps[k:k + 1])[0]


def build_embedding(n: int = 60, res: int = 512, seed: int = 1, radius_mm: float = 12.0) -> LandmarkEmbedding:
    """Embed the landmarks of :data:`FACE_MESH_POINTS` and the pose shoulders on the open body.

    ``n`` synthetic renders with the synthetic dataset's own label distribution (varied people,
    expressions, head turns, cameras; ``seed`` differs from the datasets' default so evaluation
    renders are unseen) are shown to mediapipe. Each landmark starts at the median of its ray
    hits mapped onto the mean-shape template; then, among the vertices within ``radius_mm`` of
    it, the one whose projection lies closest to mediapipe's landmark across all renders
    (median pixel distance, with the exact labels) becomes the landmark: the correspondence
    that best explains mediapipe across expressions, not only on one face.
    """
    import mediapipe as mp
    from tqdm.auto import tqdm

    from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer
    from aniportrait_hub.rendering.cameras import portrait_camera, project

    r = SyntheticRenderer(SynthConfig(res=res, seed=seed))
    faces, nb, st = r.faces, len(r.faces), r.settings
    with torch.no_grad():
        tmpl = r.body(torch.zeros(1, 10), torch.zeros(1, 6, 3)).neutral_vertices[0].double().numpy()
    idx = face_mesh_indices()
    hits_3d: dict[int, list[np.ndarray]] = {i: [] for i in idx}
    observed, shoulders_obs, records = [], [], []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as fm, \
            mp.solutions.pose.Pose(static_image_mode=True) as pose:
        for k in tqdm(range(n), desc="landmark embedding"):
            rec, im = r.render(k, return_hits=True)
            a = im["rgba"][..., 3:] / 255.0
            rgb = np.ascontiguousarray((im["rgba"][..., :3] * a + 255 * (1 - a)).astype(np.uint8))
            found = fm.process(rgb).multi_face_landmarks
            body_pose = pose.process(rgb).pose_landmarks
            if not found or not body_pose:
                continue
            lm = np.array([[p.x * res, p.y * res] for p in found[0].landmark])
            h = im["hits"]
            for i in idx:
                x, y = np.clip(np.floor(lm[i]).astype(int), 0, res - 1)
                tri = h.triangle[y, x]
                if 0 <= tri < nb:  # on the body (not hair, not background)
                    hits_3d[i].append(h.barycentric[y, x] @ tmpl[faces[tri]])
            observed.append(lm[idx])
            shoulders_obs.append([[body_pose.landmark[i].x * res, body_pose.landmark[i].y * res] for i in POSE_SHOULDERS])
            records.append(rec)
    if len(records) < n // 2 or any(len(hits_3d[i]) < n // 4 for i in idx):
        raise RuntimeError(f"mediapipe found only {len(records)}/{n} renders' landmarks; cannot embed")
    # Every render's posed mesh and camera, with its exact labels.
    lab = {k: torch.tensor(np.array([getattr(rc, k) for rc in records]), dtype=torch.float32)
           for k in ("betas", "joint_eulers", "face_id", "expression", "camera")}
    with torch.no_grad():
        out = r.body(lab["betas"], lab["joint_eulers"], rest_offsets=r.face.body_offsets(lab["face_id"], lab["expression"]))
        cam = portrait_camera(lab["camera"].double(), st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
    observed = np.array(observed)  # [N, L, 2]
    vids, spread = [], []
    for li, i in enumerate(idx):
        med = np.median(np.array(hits_3d[i]), 0)
        near = np.nonzero(np.linalg.norm(tmpl - med, axis=1) < radius_mm / 1000)[0]
        if len(near) == 0:
            near = np.array([_closest_surface_point(tmpl, faces, med)[0]])
            near = faces[near[0]]
        with torch.no_grad():
            uv = project(cam, out.vertices[:, near].double(), res, res).numpy()  # [N, C, 2]
        err = np.median(np.linalg.norm(uv - observed[:, li, None], axis=-1), axis=0)
        best = int(near[err.argmin()])
        vids.append([best, best, best])
        spread.append(err.min())
    # Shoulders: the offset from joints 16 / 17 (in the joint's rest frame) that best explains
    # mediapipe's shoulder points, by back-projecting each one to its joint's depth.
    c2w, o = cam.cam_to_world.numpy(), cam.origin.numpy()
    half = np.tan(np.radians(st.portrait_fov_deg) / 2)
    sh = np.array(shoulders_obs) / res  # [N, 2, 2] in [0, 1]
    offs = []
    for n_i in range(len(records)):
        row = []
        for s_i, j in enumerate(SHOULDER_JOINTS):
            joint = out.joints[n_i, j].double().numpy()
            depth = -(joint - o[n_i]) @ c2w[n_i][:, 2]
            ray = np.array([(sh[n_i, s_i, 0] * 2 - 1) * half, (1 - sh[n_i, s_i, 1] * 2) * half, -1.0])
            world = o[n_i] + c2w[n_i] @ ray * depth
            row.append(out.joint_transforms[n_i, j, :3, :3].double().numpy().T @ (world - joint))
        offs.append(row)
    bary = np.tile(np.array([1.0, 0.0, 0.0], dtype=np.float32), (len(idx), 1))
    return LandmarkEmbedding(np.array(idx), np.array(vids), bary, np.array(spread, dtype=np.float32),
                             np.median(np.array(offs), 0).astype(np.float32), int(tmpl.shape[0]))


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.data.landmarks", "landmarks"))
