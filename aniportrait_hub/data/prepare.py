"""Real-photo preparation: any folder of photos -> a dataset in the project's format.

    aniportrait prepare --images DIR --out DIR [--res 512] [--face_res 256]

The way SHHQ-HS was made (METHOD.md 1.7), with open tools: mediapipe finds one person (face
detection, face mesh, pose, selfie segmentation; :mod:`aniportrait_hub.data.detect`); the body
and face models and the camera are fitted to the landmarks (:mod:`aniportrait_hub.data.fit`),
which also places the canonical portrait frame on the photo, so the crop is aligned on the
projected head and neck exactly as the renderer frames its portraits; the crop is resampled
from the photo with the background removed (selfie mask as alpha); the face-camera image is
cropped from the photo by the similarity that best maps the fitted head seen by the face camera
onto the photo (METHOD.md 1.5); labels are written in the dataset format.

Photos without exactly one usable person, or whose fit fails, are skipped and listed with the
reason in ``report.json`` / ``report.md``; ``contact_sheet.png`` shows each prepared photo
(input with landmarks and crop box, aligned crop with the fitted landmarks, the fitted body
over the crop, the face crop). Inputs are only read; an existing dataset is never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from aniportrait_hub.data.detect import Detection, PhotoDetector, SkipImage, load_photo
from aniportrait_hub.data.fit import FitConfig, FitResult, LabelFitter, similarity_2d
from aniportrait_hub.data.format import DatasetInfo, DatasetWriter, Record
from aniportrait_hub.rendering.cameras import face_camera, portrait_camera, project


@dataclasses.dataclass
class PrepareConfig:
    """Run config of the real-photo preparation."""

    images: Path = Path("photos")
    """Folder of photos (every file in it is tried; sub-folders are not read)."""
    out: Path = Path("prepared")
    """Output dataset folder (must not hold a dataset yet)."""
    res: int = 512
    """Side of the aligned portrait crop (pixels)."""
    face_res: int = 256
    """Side of the face-camera crop (pixels)."""
    batch: int = 32
    """Photos fitted together (the fit is batched)."""
    max_residual: float = 0.02
    """Largest RMS landmark residual accepted, as a fraction of the crop side; worse fits are
    skipped with the reason."""
    min_inside: float = 0.5
    """Smallest share of the portrait crop that must lie inside the photo."""
    heldout_every: int = 10
    """One photo in this many (by a hash of its name, stable as photos are added) is held out."""
    sheet_max: int = 12
    """Photos shown on the contact sheet."""


@dataclasses.dataclass
class Prepared:
    """One photo's outputs before writing."""

    name: str
    rgba: np.ndarray
    face: np.ndarray
    record: Record
    landmarks: np.ndarray  # [478, 2] in crop pixels
    fitted: np.ndarray  # [L, 2] fitted landmark projections in crop pixels
    inside: float
    residual: float
    scale: float  # photo pixels per crop pixel
    offset: np.ndarray  # photo position of the crop's corner
    face_scale: float = 1.0  # photo pixels per face-crop pixel
    face_offset: np.ndarray | None = None  # photo position of the face crop's corner


def _resample(image: np.ndarray, scale: float, offset: np.ndarray, res: int, fill) -> np.ndarray:
    """Crop [res, res] whose pixel (x, y) shows photo point scale * (x, y) + offset (bicubic;
    ``fill`` outside the photo)."""
    from PIL import Image

    mode = "L" if image.ndim == 2 else "RGB"
    im = Image.fromarray(image, mode)
    data = (scale, 0.0, float(offset[0]), 0.0, scale, float(offset[1]))
    return np.asarray(im.transform((res, res), Image.AFFINE, data, resample=Image.BICUBIC, fillcolor=fill))


class Preparer:
    """Detector and fitter, opened once; :meth:`run` prepares a folder."""

    def __init__(self, cfg: PrepareConfig, fit_config: FitConfig | None = None):
        self.cfg = cfg
        self.fitter = LabelFitter(config=fit_config)

    def face_crop_similarity(self, fit: FitResult, i: int) -> tuple[float, np.ndarray]:
        """Scale and offset mapping face-camera pixels (``face_res``) to photo pixels."""
        st, res, fres = self.fitter.st, self.cfg.res, self.cfg.face_res
        lab = {k: torch.as_tensor(getattr(fit, k)[i:i + 1]) for k in ("betas", "joint_eulers", "face_id", "expression")}
        lab["camera"] = torch.as_tensor(fit.camera[i:i + 1])
        with torch.no_grad():
            out = self.fitter.body(lab["betas"], lab["joint_eulers"],
                                   rest_offsets=self.fitter.face.body_offsets(lab["face_id"], lab["expression"]))
            pcam = portrait_camera(lab["camera"].double(), st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
            fcam = face_camera(pcam, out.head_transform[:, :3, 3].double(), st.face_distance, st.face_fov_deg)
            head = out.vertices[:, self.fitter.face.body_vertex_ids].double()  # the face-model region
            in_portrait = project(pcam, head, res, res)[0]
            in_face = project(fcam, head, fres, fres)[0]
        s, t = similarity_2d(in_face, in_portrait)  # face px -> crop px (the cameras share their up)
        return fit.scale[i] * float(s), fit.scale[i] * t.numpy() + fit.offset[i]

    def prepare_batch(self, names: list[str], photos: list[np.ndarray], dets: list[Detection]) -> tuple[list[Prepared], dict[str, str]]:
        """Fit and crop a batch; returns the prepared photos and the skip reasons of the rest."""
        cfg, res = self.cfg, self.cfg.res
        fit = self.fitter.fit(np.stack([d.face for d in dets]), np.stack([d.pose[[11, 12], :2] for d in dets]), res)
        done, skipped = [], {}
        for i, (name, photo, det) in enumerate(zip(names, photos, dets)):
            if fit.residual[i] > cfg.max_residual * res:
                skipped[name] = (f"the body and face models could not be fitted to the landmarks "
                                 f"(residual {fit.residual[i] / res:.1%} of the crop, limit {cfg.max_residual:.0%})")
                continue
            s, off = float(fit.scale[i]), fit.offset[i]
            h, w = photo.shape[:2]
            # Share of the crop inside the photo.
            x0, y0, x1, y1 = off[0], off[1], off[0] + s * res, off[1] + s * res
            inside = float(max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0)) / (s * res) ** 2)
            if inside < cfg.min_inside:
                skipped[name] = f"only {inside:.0%} of the aligned portrait crop lies inside the photo (need {cfg.min_inside:.0%})"
                continue
            rgb = _resample(photo, s, off, res, (255, 255, 255))
            mask = _resample((np.clip(det.mask, 0, 1) * 255).astype(np.uint8), s, off, res, 0)
            fs, foff = self.face_crop_similarity(fit, i)
            face_rgb = _resample(photo, fs, foff, cfg.face_res, (255, 255, 255)).astype(np.float32)
            face_a = _resample((np.clip(det.mask, 0, 1) * 255).astype(np.uint8), fs, foff, cfg.face_res, 0)[..., None] / 255.0
            face = (face_rgb * face_a + 255 * (1 - face_a)).round().astype(np.uint8)  # on white, like the renderer
            split = "heldout" if zlib.crc32(name.encode()) % cfg.heldout_every == cfg.heldout_every - 1 else "train"
            rec = Record(name=name, camera=fit.camera[i].tolist(), betas=fit.betas[i].tolist(),
                         joint_eulers=fit.joint_eulers[i].tolist(), face_id=fit.face_id[i].tolist(),
                         expression=fit.expression[i].tolist(), face_camera=fit.face_camera[i].tolist(),
                         split=split, identity=name)
            done.append(Prepared(name, np.dstack([rgb, mask]), face, rec, (det.face - off) / s,
                                 fit.landmarks[i], inside, float(fit.residual[i]), s, off.copy(), fs, foff.copy()))
        return done, skipped

    def run(self) -> dict:
        """Prepare ``cfg.images`` into ``cfg.out``; returns the report (also written)."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        src = Path(cfg.images)
        if not src.is_dir():
            raise FileNotFoundError(f"photo folder not found: {src}")
        out = Path(cfg.out).resolve()
        files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{src} holds no files")
        if not 64 <= cfg.res <= 2048 or not 32 <= cfg.face_res <= 1024:
            raise ValueError(f"need 64 <= res <= 2048 and 32 <= face_res <= 1024, got {cfg.res}, {cfg.face_res}")
        face = self.fitter.face
        writer = DatasetWriter(out, DatasetInfo(expression_basis=face.basis_name, id_dim=face.num_identity,
                                                exp_dim=face.num_expression, resolution=cfg.res,
                                                source=f"photos prepared from {src.resolve()}"))
        report = {"images": str(src.resolve()), "out": str(out), "config": {k: str(v) for k, v in
                                                                             dataclasses.asdict(cfg).items()},
                  "prepared": {}, "skipped": {}}
        names_used: set[str] = set()
        pending: list[tuple[str, str, np.ndarray, Detection]] = []
        sheet: list[tuple[np.ndarray, Prepared]] = []
        t0 = time.perf_counter()

        def flush():
            done, skipped = self.prepare_batch([n for n, _, _, _ in pending], [p for _, _, p, _ in pending],
                                               [d for _, _, _, d in pending])
            by_name = {n: (f, p) for n, f, p, _ in pending}
            for name, reason in skipped.items():
                report["skipped"][by_name[name][0]] = reason
            for prep in done:
                writer.add(prep.record, prep.rgba, face=prep.face)
                report["prepared"][by_name[prep.name][0]] = {
                    "name": prep.name, "split": prep.record.split, "residual_px": round(prep.residual, 2),
                    "inside": round(prep.inside, 3)}
                if len(sheet) < cfg.sheet_max:
                    sheet.append((by_name[prep.name][1], prep))
            pending.clear()

        with PhotoDetector() as detector:
            for path in tqdm(files, desc="prepare"):
                try:
                    photo = load_photo(path)
                    det = detector.detect(photo)
                except SkipImage as err:
                    report["skipped"][path.name] = str(err)
                    continue
                name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem) or "photo"
                base, k = name, 1
                while name in names_used:
                    k += 1
                    name = f"{base}_{k}"
                names_used.add(name)
                pending.append((name, path.name, photo, det))
                if len(pending) == cfg.batch:
                    flush()
            if pending:
                flush()
        report["seconds"] = round(time.perf_counter() - t0, 2)
        report["seconds_per_photo"] = round(report["seconds"] / len(files), 3)
        (out / "report.json").write_text(json.dumps(report, indent=1))
        (out / "report.md").write_text(_report_markdown(report))
        if sheet:
            contact_sheet(sheet, self.fitter, out / "contact_sheet.png")
        return report


def _report_markdown(report: dict) -> str:
    lines = [f"# Prepared {len(report['prepared'])} of {len(report['prepared']) + len(report['skipped'])} photos",
             "", f"From `{report['images']}` in {report['seconds']} s.", "", "| photo | result |", "|---|---|"]
    for f, info in report["prepared"].items():
        lines.append(f"| {f} | prepared as `{info['name']}` ({info['split']}; landmark residual "
                     f"{info['residual_px']} px) |")
    for f, reason in report["skipped"].items():
        lines.append(f"| {f} | skipped: {reason} |")
    return "\n".join(lines) + "\n"


def contact_sheet(items: list[tuple[np.ndarray, Prepared]], fitter: LabelFitter, path: Path, tile: int = 256) -> None:
    """One row per photo: the photo with mediapipe's landmarks and the crop box; the aligned crop
    (background removed) with mediapipe's (red) and the fitted model's (green) landmarks; the
    fitted body rendered over the crop; the face-camera crop."""
    from PIL import Image, ImageDraw

    from aniportrait_hub.data.raycast import cast_rays

    rows = []
    for photo, prep in items:
        res = prep.rgba.shape[0]
        k = tile / res
        # 1. Photo, letterboxed, with the crop box.
        ph = Image.fromarray(photo)
        z = tile / max(ph.size)
        ph_small = ph.resize((max(1, round(ph.size[0] * z)), max(1, round(ph.size[1] * z))))
        t1 = Image.new("RGB", (tile, tile), "white")
        t1.paste(ph_small, (0, 0))
        # 2. Aligned crop on white with landmarks.
        crop = Image.alpha_composite(Image.new("RGBA", (res, res), "white"), Image.fromarray(prep.rgba)).convert("RGB")
        t2 = crop.resize((tile, tile))
        d2 = ImageDraw.Draw(t2)
        for (x, y) in prep.landmarks[fitter.emb.mesh_index] * k:
            d2.point((x, y), fill=(230, 0, 0))
        for (x, y) in prep.fitted * k:
            d2.point((x, y), fill=(0, 200, 0))
        d1 = ImageDraw.Draw(t1)
        for (x, y) in (prep.landmarks[fitter.emb.mesh_index] * prep.scale + prep.offset) * z:
            d1.point((x, y), fill=(230, 0, 0))
        bx, by = prep.offset * z
        side = prep.scale * res * z
        d1.rectangle((bx, by, bx + side, by + side), outline=(0, 120, 255), width=2)
        # 3. Fitted body (our model) over the crop.
        rec = prep.record
        with torch.no_grad():
            out = fitter.body(torch.tensor([rec.betas]), torch.tensor([rec.joint_eulers]),
                              rest_offsets=fitter.face.body_offsets(torch.tensor([rec.face_id]),
                                                                    torch.tensor([rec.expression])))
            st = fitter.st
            cam = portrait_camera(torch.tensor([rec.camera], dtype=torch.float64), st.portrait_radius,
                                  st.portrait_fov_deg, st.portrait_shift)
        hits = cast_rays(out.vertices[0].double().numpy(), fitter.body.faces.numpy(), cam, tile)
        body = np.where(hits.mask[..., None], [90, 160, 255], 0).astype(np.float32)
        base = np.asarray(crop.resize((tile, tile)), dtype=np.float32)
        a = 0.45 * hits.mask[..., None]
        t3 = Image.fromarray((base * (1 - a) + body * a).astype(np.uint8))
        t4 = Image.fromarray(prep.face).resize((tile, tile))
        row = Image.new("RGB", (4 * tile, tile), "white")
        for j, t in enumerate((t1, t2, t3, t4)):
            row.paste(t, (j * tile, 0))
        rows.append(row)
    sheet = Image.new("RGB", (4 * tile, tile * len(rows)), "white")
    for i, r in enumerate(rows):
        sheet.paste(r, (0, i * tile))
    sheet.save(path)


if __name__ == "__main__":  # the old command path, kept for one release
    import importlib

    raise SystemExit(importlib.import_module("aniportrait_hub.commands").deprecated("aniportrait_hub.data.prepare", "prepare"))
