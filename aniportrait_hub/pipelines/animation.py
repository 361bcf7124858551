"""Driving sequences (DESIGN.md decision 8) and the authors' keyframe files.

One ``.npz`` per sequence: ``expression [T, E]``, ``joint_eulers [T, 6, 3]``, ``camera [T, 2]``,
``fps`` and ``expression_basis`` (e.g. ``"bfm09"``, ``"arkit52"``). The authors' release ships
``.npy`` keyframes (``expression.npy`` [K, 64] BFM, ``headpose.npy`` / ``shoulderpose.npy`` /
``pose.npy`` [K, 6, 3], ``camera_pose.npy`` [K, 2]) and real tracks of the same layouts;
:func:`sequence_from_authors_files` imports them: keyframe tracks are interpolated linearly with
``n_interval`` frames per gap, real tracks play one row per frame; :func:`sequence_to_authors_files`
exports a sequence to them.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.body.conventions import CANONICAL_EULERS, POSE_JOINTS, euler_zyx_to_matrix, matrix_to_euler_zyx

#: Tracks with at most this many rows are keyframes (interpolated); longer ones are real
#: tracks played one row per frame (our rule; the authors' files have 4-5 keyframes and
#: 125-row tracks).
MAX_KEYFRAMES = 16


@dataclasses.dataclass
class DrivingSequence:
    """T frames of expression [T, E], joint_eulers [T, 6, 3], camera [T, 2] (radians)."""

    expression: torch.Tensor
    joint_eulers: torch.Tensor
    camera: torch.Tensor
    fps: float
    expression_basis: str

    def __post_init__(self):
        t = self.joint_eulers.shape[0]
        if self.joint_eulers.dim() != 3 or self.joint_eulers.shape[1:] != (6, 3):
            raise ValueError(f"joint_eulers must be [T, 6, 3], got {tuple(self.joint_eulers.shape)}")
        if self.expression.dim() != 2 or self.expression.shape[0] != t:
            raise ValueError(f"expression must be [T={t}, E], got {tuple(self.expression.shape)}")
        if self.camera.shape != (t, 2):
            raise ValueError(f"camera must be [T={t}, 2], got {tuple(self.camera.shape)}")
        if not (0 < self.fps <= 240):
            raise ValueError(f"fps {self.fps} outside (0, 240]")
        for name in ("expression", "joint_eulers", "camera"):
            if not torch.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} holds NaN or infinite values")

    def __len__(self) -> int:
        return self.joint_eulers.shape[0]

    def save(self, path: str | Path) -> None:
        np.savez(path, expression=self.expression.numpy(), joint_eulers=self.joint_eulers.numpy(),
                 camera=self.camera.numpy(), fps=np.array(self.fps), expression_basis=np.array(self.expression_basis))

    @classmethod
    def load(cls, path: str | Path) -> "DrivingSequence":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"driving sequence not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as d:
                return cls(torch.from_numpy(d["expression"]).float(), torch.from_numpy(d["joint_eulers"]).float(),
                           torch.from_numpy(d["camera"]).float(), float(d["fps"]), str(d["expression_basis"]))
        except KeyError as err:
            raise ValueError(f"{path} lacks field {err}; a driving sequence holds expression, joint_eulers, "
                             "camera, fps, expression_basis") from err


def _load_track(path: str | Path, shape_tail: tuple[int, ...], what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path} is not a plain .npy array ({err})") from err
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        raise ValueError(f"{what} file {path} has shape {arr.shape}, expected [K, {', '.join(map(str, shape_tail))}]")
    return arr.astype(np.float32)


def _play(track: np.ndarray, n_interval: int) -> np.ndarray:
    """Keyframes (<= MAX_KEYFRAMES rows): linear interpolation, n_interval frames per gap."""
    if track.shape[0] > MAX_KEYFRAMES or track.shape[0] == 1:
        return track
    k = track.shape[0]
    pos = np.linspace(0, k - 1, (k - 1) * n_interval + 1)
    lo = np.floor(pos).astype(int).clip(max=k - 2)
    w = (pos - lo).reshape(-1, *([1] * (track.ndim - 1)))
    return (1 - w) * track[lo] + w * track[lo + 1]


def sequence_to_authors_files(seq: DrivingSequence, folder: str | Path, overwrite: bool = False) -> list[Path]:
    """Export ``seq`` as the authors' real-track files in ``folder`` (their generator's
    ``--pose_path`` / ``--cam_path`` / ``--exp_path`` inputs): ``joint_eulers.npy`` [T, 6, 3]
    (relative to the canonical mean pose, as their keyframes), ``camera_pose.npy`` [T, 2], and
    ``expression.npy`` [T, 64] only for a BFM sequence (their expressions are BFM coefficients;
    another basis has no meaning there). Returns the files written; existing files are refused
    unless ``overwrite``."""
    folder = Path(folder)
    arrays = {"joint_eulers.npy": seq.joint_eulers.numpy(), "camera_pose.npy": seq.camera.numpy()}
    if seq.expression_basis == "bfm09":
        arrays["expression.npy"] = seq.expression.numpy()
    paths = [folder / name for name in arrays]
    if not overwrite and any(p.exists() for p in paths):
        raise FileExistsError(f"{[str(p) for p in paths if p.exists()]} exist; pass overwrite to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    for p, arr in zip(paths, arrays.values()):
        np.save(p, arr.astype(np.float32))
    return paths


def shoulders_look_absolute(joint_eulers: np.ndarray, tol: float = 0.35) -> bool:
    """True when the shoulder z-angles sit near the canonical offsets (+-1.05 rad), i.e. the
    track holds absolute rather than relative angles (the caveat of the reference README)."""
    left = joint_eulers[:, POSE_JOINTS.index(16), 0].mean()
    right = joint_eulers[:, POSE_JOINTS.index(17), 0].mean()
    return abs(left - CANONICAL_EULERS[16][0]) < tol and abs(right - CANONICAL_EULERS[17][0]) < tol


def absolute_to_relative(joint_eulers: torch.Tensor) -> torch.Tensor:
    """Absolute joint angles -> relative to the canonical mean pose: R_rel = R_abs R_canon^-1."""
    out = joint_eulers.clone()
    for j, canon in CANONICAL_EULERS.items():
        k = POSE_JOINTS.index(j)
        r = euler_zyx_to_matrix(joint_eulers[:, k]) @ euler_zyx_to_matrix(torch.tensor(canon)).T
        out[:, k] = matrix_to_euler_zyx(r)
    return out


def sequence_from_authors_files(exp_path=None, pose_path=None, cam_path=None, n_interval: int = 10,
                                fps: float = 25.0, expression_dim: int = 64, shoulders: str = "auto") -> DrivingSequence:
    """Import the authors' ``.npy`` keyframes / real tracks into a :class:`DrivingSequence`.

    Missing tracks stay neutral (zero expression and pose, frontal camera); shorter tracks hold
    their last row. ``shoulders``: ``"relative"`` (as documented), ``"absolute"`` (convert), or
    ``"auto"`` (convert when :func:`shoulders_look_absolute`).
    """
    if shoulders not in ("auto", "relative", "absolute"):
        raise ValueError(f"shoulders must be 'auto', 'relative' or 'absolute', got {shoulders!r}")
    if n_interval < 1:
        raise ValueError(f"n_interval must be >= 1, got {n_interval}")
    tracks = {}
    if exp_path is not None:
        tracks["expression"] = _play(_load_track(exp_path, (expression_dim,), "expression"), n_interval)
    if pose_path is not None:
        poses = _load_track(pose_path, (6, 3), "pose")
        if shoulders == "absolute" or (shoulders == "auto" and shoulders_look_absolute(poses)):
            poses = absolute_to_relative(torch.from_numpy(poses)).numpy()
        tracks["joint_eulers"] = _play(poses, n_interval)
    if cam_path is not None:
        tracks["camera"] = _play(_load_track(cam_path, (2,), "camera"), n_interval)
    if not tracks:
        raise ValueError("give at least one of exp_path, pose_path, cam_path")
    t = max(len(v) for v in tracks.values())

    def fill(name, neutral):
        v = tracks.get(name)
        if v is None:
            return np.broadcast_to(neutral, (t, *neutral.shape)).copy()
        return np.concatenate([v, np.repeat(v[-1:], t - len(v), 0)]) if len(v) < t else v

    return DrivingSequence(torch.from_numpy(fill("expression", np.zeros(expression_dim, np.float32))).float(),
                           torch.from_numpy(fill("joint_eulers", np.zeros((6, 3), np.float32))).float(),
                           torch.from_numpy(fill("camera", np.full(2, math.pi / 2, np.float32))).float(),
                           fps, "bfm09" if exp_path is not None else "none")
