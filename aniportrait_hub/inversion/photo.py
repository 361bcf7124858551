"""One photo -> the aligned portrait crop, person mask, face-camera crop and labels that
inversion starts from.

One implementation with the dataset preparation (:mod:`aniportrait_hub.data.prepare`): the same
detector (:class:`~aniportrait_hub.data.detect.PhotoDetector`), label fit and crops
(:meth:`~aniportrait_hub.data.prepare.Preparer.prepare_batch`). What differs is what a single
user photo needs: each reason a photo cannot be used is an error that says so (the dataset
path skips and lists instead); a huge photo is downscaled rather than refused; a head turned
beyond :data:`MAX_PROFILE_DEG` is refused (one view of a profile leaves the other half of the
face unknown). The photo file is only read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

#: Longest photo side used; larger photos are downscaled first (our choice: the aligned crop is
#: 512 pixels, and the detectors see at most 1280).
MAX_PHOTO_SIDE = 4096
#: Largest head yaw seen from the camera that is accepted (degrees; our choice: the synthetic
#: training data turns the head up to +-45 deg relative to the camera).
MAX_PROFILE_DEG = 45.0


class PhotoError(ValueError):
    """A photo that cannot be animated; the message says why."""


@dataclasses.dataclass
class PreparedPhoto:
    """A photo ready for inversion."""

    image: np.ndarray
    """[res, res, 3] uint8 aligned portrait crop (the renderer's framing)."""
    mask: np.ndarray
    """[res, res] float32 person mask in [0, 1] (selfie segmentation)."""
    face: np.ndarray
    """[face_res, face_res, 3] uint8 face-camera crop, person on white."""
    camera: np.ndarray
    """[2] pitch, yaw (radians)."""
    betas: np.ndarray
    """[10] body shape."""
    joint_eulers: np.ndarray
    """[6, 3] joints 12-17 (radians)."""
    face_id: np.ndarray
    """[K] face identity."""
    expression: np.ndarray
    """[E] expression in the fitter's face model units."""
    head_yaw_deg: float
    """The head's yaw seen from the camera."""
    residual: float
    """RMS landmark residual of the fit, as a fraction of the crop side."""
    messages: list[str]
    """What was changed on the way (downscaled), for the user."""
    mouth: np.ndarray | None = None
    """[res, res] float32 in [0, 1]: inside the open mouth (teeth, tongue, the cavity). These
    pixels must not teach the person's canonical lips: map-level tuning leaves them out."""
    face_mouth: np.ndarray | None = None
    """[face_res, face_res] the same in the face crop."""


#: MediaPipe face-mesh indices of the inner lip contour, in order around the mouth opening.
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)


def mouth_opening(points: np.ndarray, res: int, grow: float = 0.006) -> np.ndarray:
    """[res, res] float32: 1 inside the inner lip contour of face-mesh ``points`` ([478, 2] in
    this crop's pixels), grown by ``grow`` of the side and softened over a pixel or two; 0
    everywhere for a closed mouth (the contour has no area)."""
    import cv2

    out = np.zeros((res, res), np.uint8)
    poly = np.round(points[list(INNER_LIPS)] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    cv2.fillPoly(out, [poly], 255, lineType=cv2.LINE_AA, shift=2)
    k = max(1, round(grow * res))
    out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    return cv2.GaussianBlur(out, (0, 0), max(0.5, k / 2)).astype(np.float32) / 255


def prepare_photo(photo: str | Path | np.ndarray, res: int = 512, face_res: int = 256,
                  max_profile_deg: float = MAX_PROFILE_DEG, fit_config=None, person: str | int | None = None) -> PreparedPhoto:
    """Prepare one photo (a path, or an RGB uint8 array [H, W, 3]).

    ``person``: None (the photo must show one person), or whom to take of several: ``largest``,
    ``left``, ``right`` or N, the N-th face from the left
    (:func:`~aniportrait_hub.tracking.follow.parse_person`).

    Raises:
        PhotoError: not an image or corrupt, no face, several faces, a face too small, no
            shoulders, a fit that fails, a crop mostly outside the photo, or a profile beyond
            ``max_profile_deg``.
    """
    from PIL import Image

    from aniportrait_hub.data.detect import PhotoDetector, SkipImage, load_photo
    from aniportrait_hub.data.fit import head_orientations
    from aniportrait_hub.data.prepare import PrepareConfig, Preparer

    messages: list[str] = []
    name = "photo"
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise PhotoError(f"expected an RGB image [H, W, 3] uint8, got {photo.shape} {photo.dtype}")
        image = photo
        if max(image.shape[:2]) > MAX_PHOTO_SIDE:
            k = MAX_PHOTO_SIDE / max(image.shape[:2])
            size = (round(image.shape[1] * k), round(image.shape[0] * k))
            messages.append(f"the photo is {image.shape[1]}x{image.shape[0]}; downscaled to {size[0]}x{size[1]}")
            image = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
    else:
        path = Path(photo)
        name = path.name
        if not path.is_file():
            raise PhotoError(f"photo not found: {path}")
        try:
            image = load_photo(path, max_side=MAX_PHOTO_SIDE)
            with Image.open(path) as im:
                w, h = im.size
        except SkipImage as e:
            raise PhotoError(f"{name}: {e}") from e
        if max(w, h) > MAX_PHOTO_SIDE:
            messages.append(f"{name} is {w}x{h}; downscaled to {image.shape[1]}x{image.shape[0]}")
    try:
        with PhotoDetector() as detector:
            det = detector.detect(image, person)
    except SkipImage as e:
        hint = " (choose one with person: largest, left, right or N from the left)" if "faces found" in str(e) else ""
        raise PhotoError(f"{name}: {e}{hint}") from e
    prep = Preparer(PrepareConfig(res=res, face_res=face_res), fit_config)
    done, skipped = prep.prepare_batch([name], [image], [det])
    if not done:
        raise PhotoError(f"{name}: {skipped[name]}")
    p = done[0]
    r = p.record
    eul, cam = np.array(r.joint_eulers, np.float32), np.array(r.camera, np.float32)
    _, seen = head_orientations(prep.fitter.body, eul[None], cam[None])
    yaw = float(np.degrees(seen[0, 1]))
    if abs(yaw) > max_profile_deg:
        raise PhotoError(f"{name}: the head is turned {abs(yaw):.0f} deg from the camera; up to "
                         f"{max_profile_deg:g} deg can be animated (one view of a profile leaves the far side unknown)")
    in_photo = p.landmarks * p.scale + p.offset
    return PreparedPhoto(image=p.rgba[..., :3].copy(), mask=p.rgba[..., 3].astype(np.float32) / 255.0, face=p.face,
                         camera=cam, betas=np.array(r.betas, np.float32), joint_eulers=eul,
                         face_id=np.array(r.face_id, np.float32), expression=np.array(r.expression, np.float32),
                         head_yaw_deg=yaw, residual=p.residual / res, messages=messages,
                         mouth=mouth_opening(p.landmarks, res),
                         face_mouth=mouth_opening((in_photo - p.face_offset) / p.face_scale, face_res))
