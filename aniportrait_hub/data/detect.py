"""Photo loading and person detection for real-photo preparation (issue: datasets).

``load_photo`` turns any file into an RGB array or a :class:`SkipImage` with the reason (not an
image, corrupt, too small, too large); ``PhotoDetector`` runs mediapipe's face detection, face
mesh, pose and selfie segmentation (legacy ``mediapipe.solutions`` models shipped in the
0.10.14 wheel, nothing downloaded) and returns a :class:`Detection`, or a :class:`SkipImage`
when the photo does not hold exactly one usable head-and-shoulder person (or the one chosen).
The person is found by the full-range face detector, and the other models read crops around
them, as the video tracker does (:mod:`aniportrait_hub.tracking.follow`), so a face much smaller
than the photo is read too. Inputs are only read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

#: Smallest photo side accepted (pixels; our choice: the face must be large enough to fit).
MIN_SIDE = 128
#: Largest photo accepted (pixels), against decompression bombs (our choice).
MAX_PIXELS = 80_000_000
#: Longest side the detectors see; larger photos are downscaled for detection only.
DETECT_SIDE = 1280


class SkipImage(Exception):
    """The photo is not used; ``str(err)`` is the reason shown in the report."""


def load_photo(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> np.ndarray:
    """RGB uint8 [H, W, 3], EXIF-rotated; grayscale, palette, CMYK and 16-bit images converted,
    alpha composited on white. The file is only read.

    Args:
        max_pixels: larger photos are refused (decompression bombs), unless ``max_side`` is given.
        max_side: downscale photos whose longer side exceeds it instead (PIL's own bomb limit,
            ~179 MP, still refuses).

    Raises:
        SkipImage: not an image, corrupt, too small or too large.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if max_side is None and w * h > max_pixels:
                raise SkipImage(f"too large: {w}x{h} pixels (limit {max_pixels:,})")
            if min(w, h) < MIN_SIDE:
                raise SkipImage(f"too small: {w}x{h} (the shorter side needs >= {MIN_SIDE} pixels)")
            if max_side is not None and max(w, h) > max_side:
                im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale (fast)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit integer) grey
                a = np.asarray(im, dtype=np.float64)
                im = Image.fromarray((a * 255.0 / (65535.0 if a.max() > 255 else 255.0)).clip(0, 255).astype(np.uint8))
            if im.mode in ("RGBA", "LA", "P", "PA"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            im = im.convert("RGB")
            if max_side is not None and max(im.size) > max_side:
                im.thumbnail((max_side, max_side), Image.LANCZOS)
            return np.asarray(im)
    except SkipImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise SkipImage(f"not a readable image ({type(err).__name__})") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise SkipImage(f"corrupt image ({err})") from err


@dataclasses.dataclass
class Detection:
    """One person in a photo (pixel coordinates of the full-resolution photo)."""

    face: np.ndarray
    """[478, 2] face-mesh landmarks (468 + 10 iris points: the attention model, which follows
    eyelids far better)."""
    pose: np.ndarray
    """[33, 3] pose landmarks: x, y, visibility."""
    mask: np.ndarray
    """[H, W] float32 person probability (selfie segmentation)."""
    face_box: np.ndarray
    """[4] face detection box x0, y0, x1, y1."""


class PhotoDetector:
    """mediapipe models, opened once. Use as a context manager."""

    def __init__(self, min_face_side: int = 48, min_shoulder_visibility: float = 0.5, follow=None):
        from aniportrait_hub.tracking.follow import FollowConfig

        self.min_face_side = min_face_side
        self.min_shoulder_visibility = min_shoulder_visibility
        self.follow = follow or FollowConfig()

    def __enter__(self) -> "PhotoDetector":
        import mediapipe as mp

        from aniportrait_hub.tracking.follow import FaceFinder

        s = mp.solutions
        self._fd = FaceFinder(min_confidence=0.5)
        self._fm = s.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
        self._pose = s.pose.Pose(static_image_mode=True)
        self._seg = s.selfie_segmentation.SelfieSegmentation(model_selection=0)
        return self

    def __exit__(self, *exc) -> None:
        for m in (self._fd, self._fm, self._pose, self._seg):
            m.close()

    def detect(self, image: np.ndarray, person: str | int | None = None) -> Detection:
        """Exactly one head-and-shoulder person (``person`` None), or the one ``person`` chooses
        of several (:func:`~aniportrait_hub.tracking.follow.parse_person`), or :class:`SkipImage`."""
        from PIL import Image

        from aniportrait_hub.tracking.follow import body_crop, choose, describe_person, face_crop, parse_person

        h, w = image.shape[:2]
        k = min(1.0, DETECT_SIDE / max(h, w))
        small = np.asarray(Image.fromarray(image).resize((round(w * k), round(h * k)))) if k < 1 else image
        small = np.ascontiguousarray(small)
        faces = self._fd.find(small)
        if not faces:
            raise SkipImage("no face found")
        if person is None:
            if len(faces) > 1:
                raise SkipImage(f"{len(faces)} faces found; exactly one person is needed")
            box = faces[0]
        else:
            person = parse_person(person)
            box = choose(faces, person)
            if box is None:
                raise SkipImage(f"{describe_person(person)} was asked for; {len(faces)} "
                                f"{'face was' if len(faces) == 1 else 'faces were'} found")
        face_box = np.array([box.x0, box.y0, box.x1, box.y1]) / k
        if min(box.x1 - box.x0, box.y1 - box.y0) / k < self.min_face_side:
            raise SkipImage(f"face too small ({box.width / k:.0f} px wide; >= {self.min_face_side} needed)")
        crop = face_crop(box, small.shape, self.follow, alone=len(faces) == 1)
        mesh = self._fm.process(crop.cut(small)).multi_face_landmarks
        if not mesh:
            raise SkipImage("face found but its landmarks could not be fitted")
        face = crop.to_frame(np.array([[p.x, p.y] for p in mesh[0].landmark]) * crop.out) / k
        body = body_crop(box, self.follow, crop, small.shape)
        view = body.cut(small)
        pose_res = self._pose.process(view).pose_landmarks
        if not pose_res:
            raise SkipImage("no body pose found")
        pose = np.array([[p.x, p.y, p.visibility] for p in pose_res.landmark])
        pose[:, :2] = body.to_frame(pose[:, :2] * body.out) / k
        if min(pose[11, 2], pose[12, 2]) < self.min_shoulder_visibility:
            raise SkipImage("shoulders not visible; a head-and-shoulder portrait is needed")
        mask = body.paste(self._seg.process(view).segmentation_mask, small.shape)
        if k < 1:
            mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.BILINEAR))
        return Detection(face, pose, mask.astype(np.float32), face_box)
