"""Measurements of generated portraits (issue: the embedded default model; extended by the
evaluation suite).

- :class:`FaceProbe`: mediapipe face detection and the attention face mesh (legacy
  ``mediapipe.solutions`` models of the 0.10.14 wheel, nothing downloaded) on a rendered image:
  found or not, mouth opening, eye aspect ratio, smile width, head rotation by a PnP solve of
  the mesh landmarks against the open body's landmark embedding.
- :func:`mask_iou`, :func:`psnr`, :func:`ssim` against a ground-truth render.
- :func:`depth_reprojection_error`: multi-view consistency of two depth maps.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

#: Face-mesh indices (mediapipe's 468-point topology).
LIP_UPPER, LIP_LOWER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
EYE_OUTER_R, EYE_INNER_R, EYE_INNER_L, EYE_OUTER_L = 33, 133, 362, 263
LID_TOP_R, LID_BOTTOM_R, LID_TOP_L, LID_BOTTOM_L = 159, 145, 386, 374


@dataclasses.dataclass
class FaceReading:
    """What mediapipe reads on one image (None where nothing was found)."""

    detected: bool
    """Face detection found a face."""
    mesh: np.ndarray | None
    """[478, 2] face-mesh landmarks in pixels (None: the mesh found no face)."""

    @property
    def meshed(self) -> bool:
        return self.mesh is not None

    def _iod(self) -> float:
        return float(np.linalg.norm(self.mesh[EYE_OUTER_R] - self.mesh[EYE_OUTER_L]))

    def mouth_opening(self) -> float:
        """Inner-lip gap over the outer eye-corner distance."""
        return float(np.linalg.norm(self.mesh[LIP_UPPER] - self.mesh[LIP_LOWER])) / self._iod()

    def eye_aspect_ratio(self) -> float:
        """Lid gap over eye width, mean of both eyes."""
        m = self.mesh
        r = np.linalg.norm(m[LID_TOP_R] - m[LID_BOTTOM_R]) / np.linalg.norm(m[EYE_OUTER_R] - m[EYE_INNER_R])
        left = np.linalg.norm(m[LID_TOP_L] - m[LID_BOTTOM_L]) / np.linalg.norm(m[EYE_OUTER_L] - m[EYE_INNER_L])
        return float((r + left) / 2)

    def mouth_width(self) -> float:
        """Mouth-corner distance over the outer eye-corner distance (rises with a smile)."""
        return float(np.linalg.norm(self.mesh[MOUTH_LEFT] - self.mesh[MOUTH_RIGHT])) / self._iod()


class FaceProbe:
    """mediapipe face detection + attention face mesh, opened once. Use as a context manager."""

    def __enter__(self) -> "FaceProbe":
        import mediapipe as mp

        s = mp.solutions
        self._fd = s.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        self._fm = s.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
        return self

    def __exit__(self, *exc) -> None:
        self._fd.close()
        self._fm.close()

    def read(self, image: np.ndarray) -> FaceReading:
        """image: RGB uint8 [H, W, 3]."""
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        detected = bool(self._fd.process(image).detections)
        res = self._fm.process(image).multi_face_landmarks
        mesh = np.array([[p.x * w, p.y * h] for p in res[0].landmark]) if res else None
        return FaceReading(detected, mesh)


class HeadPoseSolver:
    """Head rotation seen by a camera: PnP of face-mesh landmarks against the open body's
    landmark embedding (:mod:`aniportrait_hub.data.landmarks`) on the mean body."""

    def __init__(self):
        from aniportrait_hub.body import BodyModel
        from aniportrait_hub.data.landmarks import LandmarkEmbedding

        emb = LandmarkEmbedding.load()
        body = BodyModel.from_open_default()
        with torch.no_grad():
            v = body(torch.zeros(1, 10), torch.zeros(1, 6, 3)).neutral_vertices[0]
            pts = emb.face_points(v[None])[0].numpy()  # [70, 3]
        self.mesh_index = np.asarray(emb.mesh_index)
        self.points = pts.astype(np.float64)

    def rotation(self, mesh: np.ndarray, size: int, fov_deg: float,
                 guess: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """[3, 3] rotation (model -> camera, OpenCV axes) from landmarks [478, 2] of a size^2
        image with vertical field of view ``fov_deg``; ``guess`` = (rvec, tvec) starts the
        iterative solve (see :meth:`solve`)."""
        import cv2

        return cv2.Rodrigues(self.solve(mesh, size, fov_deg, guess)[0])[0]

    def solve(self, mesh: np.ndarray, size: int, fov_deg: float,
              guess: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rvec, tvec) of the PnP solve. Without a guess: EPnP's closed form, refined
        iteratively (the bare iterative solve from no guess fell into mirrored minima on soft
        renders: readings off by 50-150 degrees); with one: Levenberg-Marquardt from it (a
        sweep solves its frontal frame first and starts every other frame there)."""
        import cv2

        f = size / 2 / math.tan(math.radians(fov_deg) / 2)
        k = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
        img = mesh[self.mesh_index].astype(np.float64)
        if guess is None:
            ok, rvec, tvec = cv2.solvePnP(self.points, img, k, None, flags=cv2.SOLVEPNP_EPNP)
        else:
            ok, rvec, tvec = True, guess[0].copy(), guess[1].copy()
        if ok:
            ok, rvec, tvec = cv2.solvePnP(self.points, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                          flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            raise RuntimeError("PnP failed")
        return rvec, tvec


def relative_yaw_deg(rot: np.ndarray, rot_ref: np.ndarray) -> float:
    """Yaw (about the camera's vertical axis) of ``rot`` relative to ``rot_ref``, degrees."""
    r = rot @ rot_ref.T
    return math.degrees(math.atan2(r[0, 2], r[2, 2]))


def relative_pitch_deg(rot: np.ndarray, rot_ref: np.ndarray) -> float:
    """Pitch (about the camera's horizontal axis) of ``rot`` relative to ``rot_ref``, degrees."""
    r = rot @ rot_ref.T
    return math.degrees(math.atan2(-r[1, 2], r[2, 2]))


def mask_iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two soft masks [H, W] in [0, 1] thresholded at ``threshold``."""
    ma, mb = a > threshold, b > threshold
    union = (ma | mb).sum()
    return float((ma & mb).sum() / union) if union else 1.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two RGB images [H, W, 3] in [0, 1] (scikit-image)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))


def depth_reprojection_error(depth_a: np.ndarray, mask_a: np.ndarray, cam_a, depth_b: np.ndarray,
                             mask_b: np.ndarray, cam_b, occlusion: float = 0.02) -> dict:
    """Multi-view consistency: every foreground pixel of view A, lifted to 3D by its depth
    (distance along its ray), is projected into view B and compared with B's depth there.

    Args:
        depth_*: [H, W] distance along the ray; mask_*: [H, W] in [0, 1]; cam_*: one
            :class:`~aniportrait_hub.rendering.cameras.Camera` each (batch 1).
        occlusion: differences above this (world units) count as occluded in B, not as error.
    Returns:
        mean / median absolute error (world units) over the points seen by both, and the share
        of points counted as occluded.
    """
    import torch.nn.functional as F

    from aniportrait_hub.rendering.cameras import camera_rays

    h = depth_a.shape[0]
    o, d = camera_rays(cam_a, h, h)
    pts = (o[0] + d[0] * torch.as_tensor(depth_a, dtype=o.dtype).reshape(-1, 1))  # [R, 3]
    fg = torch.as_tensor(mask_a.reshape(-1) > 0.9)
    pts = pts[fg]
    # Project into B: camera frame of B, pinhole with B's focal length.
    c2w = cam_b.cam_to_world[0].to(pts.dtype)
    local = (pts - cam_b.origin[0].to(pts.dtype)) @ c2w  # [N, 3] in B's axes (looks along -z)
    tan = math.tan(math.radians(float(cam_b.fov_deg)) / 2)
    u = local[:, 0] / (-local[:, 2] * tan)
    v = local[:, 1] / (-local[:, 2] * tan)
    grid = torch.stack([u, -v], -1).view(1, 1, -1, 2).float()
    db = F.grid_sample(torch.as_tensor(depth_b, dtype=torch.float32)[None, None], grid, mode="nearest",
                       align_corners=False).view(-1)
    mb = F.grid_sample(torch.as_tensor(mask_b, dtype=torch.float32)[None, None], grid, mode="nearest",
                       align_corners=False).view(-1)
    dist_b = (pts - cam_b.origin[0].to(pts.dtype)).norm(dim=-1).float()
    seen = (mb > 0.9) & (u.abs() < 1) & (v.abs() < 1)
    err = (db - dist_b).abs()[seen]
    visible = err < occlusion
    return {"mean": float(err[visible].mean()) if visible.any() else float("nan"),
            "median": float(err[visible].median()) if visible.any() else float("nan"),
            "occluded_share": float(1 - visible.float().mean()) if seen.any() else float("nan"),
            "points": int(visible.sum())}
