"""The dataset format (DESIGN.md decision 7): one folder, images + one JSON-lines labels file.

::

    DATASET/
      dataset.json         {"format": "aniportrait-dataset", "version": 1, "expression_basis": ...,
                            "id_dim": K, "exp_dim": E, "source": ..., "resolution": R}
      labels.jsonl         one JSON object per image (see :class:`Record`)
      images/NAME.png      the portrait: RGBA (background removed), or RGB with masks/NAME.png
      masks/NAME.png       optional alpha mask (L) for RGB images
      face/NAME.png        optional face-camera image of the same person (METHOD.md 1.5)
      depth/NAME.npy       optional depth (float32 [R, R]) for evaluation
      parts/NAME.png       optional part mask for evaluation

Every producer (synthetic builder, real-photo preparation) writes it; the trainer and the
priors read only it. Validation reports every problem with its file name before any use.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

FORMAT_NAME = "aniportrait-dataset"
FORMAT_VERSION = 1
SPLITS = ("train", "heldout")


@dataclasses.dataclass
class Record:
    """Labels of one image (all angles in radians, conventions of METHOD.md 1.2)."""

    name: str
    """File stem: images/NAME.png."""
    camera: list[float]
    """[pitch, yaw] of the portrait camera; frontal (pi/2, pi/2)."""
    betas: list[float]
    """[10] body shape."""
    joint_eulers: list[list[float]]
    """[6][3] Euler [z, y, x] of SMPL joints 12-17, relative to the canonical mean pose."""
    face_id: list[float]
    """[K] face identity coefficients."""
    expression: list[float]
    """[E] expression coefficients in the dataset's basis."""
    face_camera: list[float]
    """Face-camera placement: [head centre x, y, z (world), distance, pitch, yaw]."""
    split: str = "train"
    """'train' or 'heldout' (identities never seen in training)."""
    identity: str = ""
    """Identity key: records of one person share it (held-out splits are by identity)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))


@dataclasses.dataclass
class DatasetInfo:
    """``dataset.json``."""

    expression_basis: str
    id_dim: int
    exp_dim: int
    resolution: int
    source: str
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION


class DatasetError(ValueError):
    """A dataset folder cannot be used; the message lists every problem with its file."""


def _check_record(rec: dict, info: DatasetInfo, where: str) -> tuple[Record | None, list[str]]:
    problems = []
    fields = {f.name for f in dataclasses.fields(Record)}
    missing = [f for f in ("name", "camera", "betas", "joint_eulers", "face_id", "expression", "face_camera")
               if f not in rec]
    if missing:
        return None, [f"{where}: missing label(s) {missing}"]
    unknown = set(rec) - fields
    if unknown:
        problems.append(f"{where}: unknown label(s) {sorted(unknown)}")
    shapes = {"camera": (2,), "betas": (10,), "joint_eulers": (6, 3), "face_id": (info.id_dim,),
              "expression": (info.exp_dim,), "face_camera": (6,)}
    for key, shape in shapes.items():
        try:
            arr = np.asarray(rec[key], dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(f"{where}: '{key}' is not numeric")
            continue
        if arr.shape != shape:
            problems.append(f"{where}: '{key}' has shape {arr.shape}, expected {shape}")
        elif not np.isfinite(arr).all():
            problems.append(f"{where}: '{key}' holds NaN or infinite values")
    cam = np.asarray(rec.get("camera", [1, 1]), dtype=np.float64)
    if cam.shape == (2,) and ((cam <= 0) | (cam >= math.pi)).any():
        problems.append(f"{where}: camera {cam.tolist()} outside (0, pi)")
    if rec.get("split", "train") not in SPLITS:
        problems.append(f"{where}: split {rec.get('split')!r} not in {SPLITS}")
    if problems:
        return None, problems
    return Record(**{k: rec[k] for k in fields if k in rec}), []


class Dataset:
    """A validated dataset folder. Use :func:`open_dataset`."""

    def __init__(self, root: Path, info: DatasetInfo, records: list[Record]):
        self.root, self.info, self.records = root, info, records

    def __len__(self) -> int:
        return len(self.records)

    def split(self, split: str) -> list[Record]:
        return [r for r in self.records if r.split == split]

    def image_path(self, rec: Record) -> Path:
        return self.root / "images" / f"{rec.name}.png"

    def face_path(self, rec: Record) -> Path:
        return self.root / "face" / f"{rec.name}.png"

    def load_rgba(self, rec: Record) -> np.ndarray:
        """[H, W, 4] uint8: the portrait with its alpha (from the PNG or masks/NAME.png)."""
        from PIL import Image

        img = Image.open(self.image_path(rec))
        if img.mode == "RGBA":
            return np.asarray(img)
        mask = Image.open(self.root / "masks" / f"{rec.name}.png").convert("L")
        return np.dstack([np.asarray(img.convert("RGB")), np.asarray(mask)])

    def arrays(self, split: str | None = None) -> dict[str, np.ndarray]:
        """Label arrays: camera [N, 2], betas [N, 10], joint_eulers [N, 6, 3], face_id [N, K],
        expression [N, E], face_camera [N, 6]."""
        recs = self.records if split is None else self.split(split)
        keys = ("camera", "betas", "joint_eulers", "face_id", "expression", "face_camera")
        return {k: np.asarray([getattr(r, k) for r in recs], dtype=np.float32) for k in keys}


def _check_image(path: Path, need_alpha: bool) -> str | None:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return f"{path.name}: missing"
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            mode, size = im.mode, im.size
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        return f"{path.name}: not a readable image ({err})"
    if need_alpha and mode != "RGBA":
        return f"{path.name}: mode {mode}, needs RGBA or a masks/ file"
    if size[0] != size[1]:
        return f"{path.name}: {size[0]}x{size[1]} is not square"
    return None


def open_dataset(root: str | Path, check_images: bool = True) -> Dataset:
    """Read and validate a dataset folder.

    Raises:
        DatasetError: listing every problem (file and reason) found: missing or malformed
            ``dataset.json`` / ``labels.jsonl``, bad labels, duplicate names, missing or corrupt
            images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    try:
        raw = json.loads((root / "dataset.json").read_text())
        info = DatasetInfo(**raw)
    except FileNotFoundError:
        raise DatasetError(f"{root}: no dataset.json; not a dataset folder of this project") from None
    except (json.JSONDecodeError, TypeError) as err:
        raise DatasetError(f"{root / 'dataset.json'}: malformed ({err})") from err
    if info.format != FORMAT_NAME or info.version != FORMAT_VERSION:
        raise DatasetError(f"{root}: format {info.format!r} v{info.version}, expected {FORMAT_NAME!r} "
                           f"v{FORMAT_VERSION}")
    labels = root / "labels.jsonl"
    if not labels.is_file():
        raise DatasetError(f"{root}: no labels.jsonl")
    problems, records, seen = [], [], set()
    for i, line in enumerate(labels.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"labels.jsonl:{i}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: not JSON ({err.msg})")
            continue
        if not isinstance(rec, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        record, errs = _check_record(rec, info, f"{where} ({rec.get('name', '?')})")
        problems += errs
        if record is None:
            continue
        if record.name in seen:
            problems.append(f"{where}: duplicate name {record.name!r}")
            continue
        seen.add(record.name)
        if check_images:
            mask = root / "masks" / f"{record.name}.png"
            err = _check_image(root / "images" / f"{record.name}.png", need_alpha=not mask.is_file())
            if err:
                problems.append(f"images/{err}")
            if mask.is_file() and (err := _check_image(mask, need_alpha=False)):
                problems.append(f"masks/{err}")
            face = root / "face" / f"{record.name}.png"
            if face.exists() and (err := _check_image(face, need_alpha=False)):
                problems.append(f"face/{err}")
        records.append(record)
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DatasetError(f"{root}: {len(problems)} problem(s):\n  {shown}{more}")
    if not records:
        raise DatasetError(f"{root}: labels.jsonl holds no records")
    return Dataset(root, info, records)


class DatasetWriter:
    """Writes a dataset folder; refuses to touch an existing, non-empty one unless ``append``."""

    def __init__(self, root: str | Path, info: DatasetInfo, append: bool = False):
        self.root = Path(root)
        self.info = info
        exists = (self.root / "labels.jsonl").exists()
        if exists and not append:
            raise FileExistsError(f"{self.root} already holds a dataset; choose another folder or append")
        for sub in ("images", "face", "depth", "parts"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        meta = self.root / "dataset.json"
        if exists:
            old = DatasetInfo(**json.loads(meta.read_text()))
            if old != info:
                raise ValueError(f"{meta}: existing info {old} differs from {info}")
        else:
            meta.write_text(json.dumps(dataclasses.asdict(info), indent=1))

    def add(self, record: Record, rgba: np.ndarray, face: np.ndarray | None = None, depth: np.ndarray | None = None,
            parts: np.ndarray | None = None) -> None:
        """Write one sample (images first, the label line last: a crash leaves no dangling label)."""
        from PIL import Image

        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(f"rgba must be uint8 [H, W, 4], got {rgba.dtype} {rgba.shape}")
        _, errs = _check_record(dataclasses.asdict(record), self.info, record.name)
        if errs:
            raise ValueError("; ".join(errs))
        Image.fromarray(rgba, "RGBA").save(self.root / "images" / f"{record.name}.png")
        if face is not None:
            Image.fromarray(face).save(self.root / "face" / f"{record.name}.png")
        if depth is not None:
            np.save(self.root / "depth" / f"{record.name}.npy", depth.astype(np.float32))
        if parts is not None:
            Image.fromarray(parts.astype(np.uint8)).save(self.root / "parts" / f"{record.name}.png")
        with open(self.root / "labels.jsonl", "a") as fh:
            fh.write(record.to_json() + "\n")
