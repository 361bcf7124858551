"""Reading and validating body/face asset files (DESIGN.md decisions 1-2).

Two on-disk layouts are read, both plain numpy archives (no pickle is ever loaded):

- the open default, ``data/open_body_face.npz``, written by
  :mod:`aniportrait_hub.body.build_open_assets`: an SMPL-format body plus a 3DMM face;
- an SMPL-format body alone, as written by :mod:`aniportrait_hub.body.convert_smpl` from a
  user's MPI pickle (``v_template, shapedirs, posedirs, J_regressor, weights, kintree_table,
  f``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from aniportrait_hub.body.conventions import NUM_BETAS, NUM_SMPL_JOINTS, SMPL_PARENTS

OPEN_ASSET_PATH = Path(__file__).parent / "data" / "open_body_face.npz"

#: Arrays an SMPL-format body file must hold, with their expected shapes (V = vertices,
#: F = triangles, S = shape components, P = pose-corrective components).
SMPL_FIELDS = {
    "v_template": ("V", 3),
    "shapedirs": ("V", 3, "S"),
    "J_regressor": (NUM_SMPL_JOINTS, "V"),
    "weights": ("V", NUM_SMPL_JOINTS),
    "kintree_table": (2, NUM_SMPL_JOINTS),
    "f": ("F", 3),
}


class AssetError(ValueError):
    """A body or face asset file is missing, unreadable or malformed."""


def load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, with ``allow_pickle=False``.

    Raises:
        AssetError: naming the path when it is missing, not an npz archive or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{what} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise AssetError(f"{what} file {path} is not a readable .npz archive ({err})") from err


def check_smpl_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Validate SMPL-format arrays; fill zero ``posedirs`` when absent.

    Returns the arrays as float32/int64 numpy arrays.

    Raises:
        AssetError: naming the field, its shape and the expected shape.
    """
    missing = [k for k in SMPL_FIELDS if k not in arrays]
    if missing:
        raise AssetError(f"{source}: missing SMPL field(s) {missing}; expected {list(SMPL_FIELDS)}")
    dims: dict[str, int] = {}
    for name, spec in SMPL_FIELDS.items():
        shape = arrays[name].shape
        if len(shape) != len(spec):
            raise AssetError(f"{source}: '{name}' has shape {shape}, expected {spec}")
        for got, want in zip(shape, spec):
            if isinstance(want, int) and got != want:
                raise AssetError(f"{source}: '{name}' has shape {shape}, expected {spec}")
            if isinstance(want, str) and dims.setdefault(want, got) != got:
                raise AssetError(
                    f"{source}: '{name}' has shape {shape} but {want}={dims[want]} elsewhere")
    if dims["S"] < NUM_BETAS:
        raise AssetError(f"{source}: shapedirs has {dims['S']} components, at least {NUM_BETAS} needed")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents = np.where(parents > NUM_SMPL_JOINTS, -1, parents)
    if tuple(parents.tolist()) != SMPL_PARENTS:
        raise AssetError(f"{source}: kintree_table is not SMPL's 24-joint tree (parents {parents.tolist()})")
    faces = arrays["f"].astype(np.int64)
    if faces.min() < 0 or faces.max() >= dims["V"]:
        raise AssetError(f"{source}: 'f' indexes vertices outside [0, {dims['V']})")
    out = {k: np.asarray(arrays[k], dtype=np.float32) for k in ("v_template", "J_regressor", "weights")}
    out["shapedirs"] = np.asarray(arrays["shapedirs"][:, :, :NUM_BETAS], dtype=np.float32)
    posedirs = arrays.get("posedirs")
    if posedirs is None:
        posedirs = np.zeros((dims["V"], 3, 207), np.float32)
    elif posedirs.shape != (dims["V"], 3, 207):
        raise AssetError(f"{source}: 'posedirs' has shape {posedirs.shape}, expected ({dims['V']}, 3, 207)")
    out["posedirs"] = np.asarray(posedirs, dtype=np.float32)
    out["kintree_table"] = np.stack([parents, np.arange(NUM_SMPL_JOINTS)])
    if "rest_rotations" in arrays:
        rest = np.asarray(arrays["rest_rotations"], dtype=np.float32)
        if rest.shape != (NUM_SMPL_JOINTS, 3, 3):
            raise AssetError(f"{source}: 'rest_rotations' has shape {rest.shape}, expected (24, 3, 3)")
        if np.abs(rest @ rest.transpose(0, 2, 1) - np.eye(3)).max() > 1e-4:
            raise AssetError(f"{source}: 'rest_rotations' are not rotation matrices")
        out["rest_rotations"] = rest
    out["f"] = faces
    for k, v in out.items():
        if not np.all(np.isfinite(v)):
            raise AssetError(f"{source}: '{k}' holds NaN or infinite values")
    return out
