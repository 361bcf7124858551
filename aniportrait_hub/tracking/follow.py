"""Finding the person in a frame, choosing one of several, and the crop that follows them.

MediaPipe's FaceLandmarker (and the legacy face mesh) look for a face with the short-range
detector, made for selfies: on a whole wide frame a face under about a tenth of the frame width
is not found. So the person is found first by the full-range detector
(``mediapipe.solutions.face_detection``, ``model_selection=1``, bundled in the wheel), and the
landmark models read a square crop around them (:class:`Crop`), which follows the face from frame
to frame (:class:`FaceFollower`); the readings are mapped back to frame pixels
(:meth:`Crop.to_frame`), so what is fitted afterwards does not know about the crop.

Used by :class:`~aniportrait_hub.tracking.VideoTracker` (``track``, ``drive``, the app's Drive
and Live tabs) and by :class:`~aniportrait_hub.data.detect.PhotoDetector` (the dataset
preparation and :func:`~aniportrait_hub.inversion.prepare_photo`).

The crop is cut with OpenCV (``opencv-contrib-python``, which mediapipe brings) rather than PIL:
an integer window with a constant border and one resize, ~0.3 ms for a 1080p frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: The named choices of :func:`parse_person`; a number N is the N-th face from the left.
PERSON_CHOICES = ("largest", "left", "right")


def parse_person(value: str | int) -> str | int:
    """``largest`` / ``left`` / ``right``, or N >= 1 (the N-th face counted from the left, in the
    frame where the faces are counted); a string of digits counts as N.

    Raises:
        ValueError: anything else, named.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    elif isinstance(value, str) and value.strip().lower() in PERSON_CHOICES:
        return value.strip().lower()
    else:
        raise ValueError(f"person must be one of {', '.join(PERSON_CHOICES)} or a number N >= 1 "
                         f"(the N-th face from the left), got {value!r}")
    if n < 1:
        raise ValueError(f"person N counts faces from the left starting at 1, got {n}")
    return n


def describe_person(person: str | int) -> str:
    """How the chosen person reads in a message (``the largest``, ``person 2 from the left``)."""
    if isinstance(person, int):
        return f"person {person} from the left"
    return {"largest": "the largest", "left": "the leftmost", "right": "the rightmost"}[person]


@dataclasses.dataclass
class FaceBox:
    """One face found in a frame (pixels)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def centre(self) -> np.ndarray:
        return np.array([(self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2])

    @property
    def size(self) -> float:
        """The longer side."""
        return float(max(self.x1 - self.x0, self.y1 - self.y0))

    @property
    def width(self) -> float:
        return float(self.x1 - self.x0)

    def contains(self, point: np.ndarray) -> bool:
        return bool(self.x0 <= point[0] <= self.x1 and self.y0 <= point[1] <= self.y1)

    @classmethod
    def of_points(cls, points: np.ndarray) -> FaceBox:
        """The box of landmarks [N, 2] (pixels)."""
        lo, hi = points.min(0), points.max(0)
        return cls(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _starts(length: int, side: int) -> list[int]:
    """Tile starts along one side: tiles of ``side`` overlapping by at least a third."""
    if side >= length:
        return [0]
    n = int(np.ceil((length - side) / (side * 2 / 3))) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def _merge(boxes: list[FaceBox], iou: float = 0.3) -> list[FaceBox]:
    """One box per face of boxes found in overlapping tiles (the best scored of those that
    overlap by more than ``iou``)."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if all(_iou(b, k) <= iou for k in kept):
            kept.append(b)
    return kept


def _iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter + 1e-9)


def choose(faces: list[FaceBox], person: str | int) -> FaceBox | None:
    """The chosen face of ``faces`` (:func:`parse_person`'s choices), or None (no faces, or
    fewer than N)."""
    if not faces:
        return None
    by_x = sorted(faces, key=lambda b: b.centre[0])
    if person == "largest":
        return max(faces, key=lambda b: b.size)
    if person == "left":
        return by_x[0]
    if person == "right":
        return by_x[-1]
    return by_x[person - 1] if person <= len(by_x) else None


class FaceFinder:
    """Faces anywhere in a frame: MediaPipe's full-range face detector (``model_selection=1``,
    made for faces up to ~5 m from the camera), which reads a 192^2 copy of the whole frame (~8 ms
    for 1080p here). That finds faces down to ~6% of the frame's width; where it finds none,
    :meth:`find` looks again in overlapping square tiles (``tile_levels``): tiles as tall as the
    frame find them down to ~3% (58 px at 1080p), tiles of half that down to ~1.5%. Use as a
    context manager, or :meth:`close`.

    Args:
        min_confidence: detection confidence.
        tile_levels: tile sizes tried in turn where the whole frame shows no face (0: none; 1:
            the frame's shorter side; 2: and half of it). Our choice: 2, tiles no smaller than
            ``min_tile`` pixels.
        min_tile: smallest tile side (a tile much smaller than the detector's 192^2 input
            only enlarges pixels).
    """

    def __init__(self, min_confidence: float = 0.5, tile_levels: int = 2, min_tile: int = 256):
        import mediapipe as mp

        self._fd = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                             min_detection_confidence=min_confidence)
        self.tile_levels, self.min_tile = tile_levels, min_tile

    def _detect(self, image: np.ndarray, x0: int = 0, y0: int = 0) -> list[FaceBox]:
        h, w = image.shape[:2]
        boxes = []
        for d in self._fd.process(np.ascontiguousarray(image)).detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append(FaceBox(x0 + b.xmin * w, y0 + b.ymin * h, x0 + (b.xmin + b.width) * w,
                                 y0 + (b.ymin + b.height) * h, float(d.score[0]) if d.score else 1.0))
        return boxes

    def find(self, image: np.ndarray, tiles: bool = True) -> list[FaceBox]:
        """The faces in an RGB frame [H, W, 3] uint8, left to right (``tiles``: look in tiles
        where the whole frame shows none)."""
        boxes = self._detect(image)
        h, w = image.shape[:2]
        side = min(h, w)
        for level in range(self.tile_levels if tiles else 0):
            if boxes or side < self.min_tile or (level == 0 and h == w):
                break
            for y0 in _starts(h, side):
                for x0 in _starts(w, side):
                    boxes += self._detect(image[y0:y0 + side, x0:x0 + side], x0, y0)
            boxes = _merge(boxes)
            side //= 2
        return sorted(boxes, key=lambda b: b.centre[0])

    def close(self) -> None:
        self._fd.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class Crop:
    """A window of a frame (``x0``, ``y0``, ``w``, ``h`` in whole frame pixels; it may reach past
    the frame's edges, which are filled with ``fill``) scaled to ``out_w`` x ``out_h`` pixels."""

    x0: int
    y0: int
    w: int
    h: int
    out_w: int
    out_h: int
    fill: int = 0

    @classmethod
    def around(cls, centre: np.ndarray, side: float, out: int, fill: int = 0) -> Crop:
        """The square window of ``side`` pixels centred on ``centre``, scaled to ``out``."""
        s = max(8, int(round(side)))
        x0, y0 = int(round(centre[0] - s / 2)), int(round(centre[1] - s / 2))
        return cls(x0, y0, s, s, out, out, fill)

    @classmethod
    def whole(cls, shape: tuple[int, ...]) -> Crop:
        """The whole of a frame of ``shape`` (H, W, ...), as it is."""
        return cls(0, 0, shape[1], shape[0], shape[1], shape[0])

    def is_whole(self, shape: tuple[int, ...]) -> bool:
        return self == Crop.whole(shape)

    @property
    def scale(self) -> np.ndarray:
        """Frame pixels per crop pixel, [x, y]."""
        return np.array([self.w / self.out_w, self.h / self.out_h])

    @property
    def out(self) -> np.ndarray:
        """The crop's size [width, height] (what normalised coordinates are fractions of)."""
        return np.array([self.out_w, self.out_h])

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The window of an RGB frame [H, W, 3] as [out_h, out_w, 3] uint8 (the frame itself
        when the window is the whole frame)."""
        import cv2

        if self.is_whole(image.shape):
            return image
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.x0, self.y0, self.x0 + self.w, self.y0 + self.h
        inner = image[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
        pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        if inner.size == 0:  # the window lies wholly outside the frame
            return np.full((self.out_h, self.out_w, 3), self.fill, np.uint8)
        if any(pads):
            inner = cv2.copyMakeBorder(inner, *pads, cv2.BORDER_CONSTANT, value=(self.fill,) * 3)
        if (self.out_w, self.out_h) == (self.w, self.h):
            return np.ascontiguousarray(inner)
        interp = cv2.INTER_AREA if self.out_w < self.w else cv2.INTER_LINEAR
        return cv2.resize(inner, (self.out_w, self.out_h), interpolation=interp)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels [..., 2] -> frame pixels (pixel centres map to pixel centres)."""
        return (points + 0.5) * self.scale - 0.5 + np.array([self.x0, self.y0])

    def paste(self, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A map over the crop [out_h, out_w] (float) placed back on a frame of ``shape``
        (H, W, ...): resampled to the window, 0 outside it."""
        import cv2

        if self.is_whole(shape):
            return values
        h, w = shape[:2]
        win = cv2.resize(values.astype(np.float32), (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        full = np.zeros((h, w), np.float32)
        x0, y0, x1, y1 = max(self.x0, 0), max(self.y0, 0), min(self.x0 + self.w, w), min(self.y0 + self.h, h)
        if x1 > x0 and y1 > y0:
            full[y0:y1, x0:x1] = win[y0 - self.y0:y1 - self.y0, x0 - self.x0:x1 - self.x0]
        return full


@dataclasses.dataclass
class FollowConfig:
    """How the crops are placed (our choices, each named)."""

    face_scale: float = 2.5
    """Side of the face crop over the face's size (the longer side of its landmark box, or the
    detector's box): the face fills 40% of the crop, where the landmarker's own short-range
    detector and its 256-pixel landmark model find it at any distance."""
    whole_frame_at: float = 0.3
    """Faces at least this share of the frame's shorter side (and alone in it) are read from the
    whole frame as it is, as MediaPipe reads a selfie: its own detector finds them there, and a
    crop would only resample them (on the shipped 256^2 clip, face 0.34 of the frame, a crop
    raised the head yaw error against the labels from 1.5 to 2.2 deg). The failures this module
    is for start below ~0.24 (a 120-pixel face in a 720p frame)."""
    crop_side: int = 320
    """Side the face crop is scaled to: the face spans ~128 pixels of it, whatever its size in
    the frame, so a face reads the same small or large (the shipped clip padded into 1080p with
    its face at 8% of the width against the clip itself: head pitch 1.05 deg apart at 320,
    1.72 deg with crops kept between 256 and 512 pixels as cut)."""
    recentre: float = 0.08
    """The face crop stays where it is until the face's centre moves by more than this share of
    the crop's side, or its size changes by more than ``resize``: a still face is read from the
    very same pixels in every frame (a crop moved by every landmark's jitter feeds the jitter
    back)."""
    resize: float = 0.12
    """See ``recentre``."""
    jump: float = 0.15
    """A face crop that moves by more than this share of its side (or changes its size by more
    than twice ``resize``) starts the landmarker afresh (~30 ms), which then finds the face with
    its own detector: in MediaPipe's video mode the landmarker looks for the face where it was in
    the crop, and lost it for a frame after such jumps (on the shipped clip at 5% of a 720p
    frame's width every other frame went missing)."""
    body_scale: float = 6.0
    """Side of the shoulder crop (the pose model's) over the face's size; it reaches from above
    the head to below the shoulders and holds one person where people stand side by side."""
    body_drop: float = 1.6
    """The shoulder crop's centre lies this many face sizes below the face's centre."""
    body_out: int = 384
    """Side the shoulder crop is scaled to (the pose model reads 256 x 256)."""


class FaceFollower:
    """Where the chosen person's face is, frame after frame: found by :class:`FaceFinder` at the
    start, whenever the landmarker loses the face, and every ``count_every`` seconds (when the
    people are counted and the choice is made again); in between the face crop follows the
    landmarks of the last frame.

    Args:
        person: :func:`parse_person`'s choices.
        config: :class:`FollowConfig`.
        count_every: seconds between two looks at the whole frame (None: only when the face is
            lost).
    """

    def __init__(self, person: str | int = "largest", config: FollowConfig | None = None,
                 count_every: float | None = 1.0, min_confidence: float = 0.5):
        self.person = parse_person(person)
        self.cfg = config or FollowConfig()
        self.count_every = count_every
        self.finder = FaceFinder(min_confidence)
        self.face_box: FaceBox | None = None  # the followed face (frame pixels)
        self.crop: Crop | None = None
        self.people = 0  # faces at the last look at the whole frame
        self.most_people = 0
        self.jumped = False  # the face crop jumped: the landmarker must find the face afresh
        self._from_detector = False  # the face crop was placed from the detector's box
        self._looked_ms: int | None = None

    def close(self) -> None:
        self.finder.close()

    def _place(self, box: FaceBox, frame_shape: tuple[int, ...], other_person: bool = False) -> None:
        was = self.crop
        self.face_box = box
        self.crop = face_crop(box, frame_shape, self.cfg, alone=self.people <= 1)
        # A landmarker that follows the face from frame to frame (MediaPipe's video mode) would
        # look for it where it was in the old crop: on the astronaut zooming across
        # ``whole_frame_at`` that misread the head roll by 2.7 deg on average.
        self.jumped = other_person or (was is not None and was.is_whole(frame_shape) != self.crop.is_whole(frame_shape))

    def look(self, frame: np.ndarray, timestamp_ms: int, tiles: bool = True) -> None:
        """Look at the whole frame: count the people, choose one (the followed face moves only
        when the choice falls on someone else). ``tiles``: also look in tiles where the whole
        frame shows no face (:meth:`FaceFinder.find`)."""
        if tiles:
            self._looked_ms = timestamp_ms
        faces = self.finder.find(frame, tiles)
        self.people = len(faces)
        self.most_people = max(self.most_people, self.people)
        chosen = choose(faces, self.person)
        if chosen is None:
            self.face_box = self.crop = None
        elif self.face_box is None or not chosen.contains(self.face_box.centre):
            self._place(chosen, frame.shape, other_person=self.face_box is not None)
            self._from_detector = True

    def face_crop(self, frame: np.ndarray, timestamp_ms: int) -> Crop | None:
        """The crop to read this frame's face from (None: the chosen person is not in view)."""
        due = self._looked_ms is None or (self.count_every is not None
                                           and timestamp_ms - self._looked_ms >= 1000 * self.count_every)
        if due or self.crop is None:
            # between the scheduled looks a lost face is looked for in the whole frame only (tiles
            # cost ~15 detector runs on a frame with nobody in it)
            self.look(frame, timestamp_ms, tiles=due)
        return self.crop

    def saw(self, landmarks: np.ndarray | None, frame_shape: tuple[int, ...]) -> None:
        """This frame's face landmarks [N, 2] in frame pixels (None: the landmarker lost the
        face; the next frame looks at the whole frame again)."""
        if landmarks is None:
            self.face_box = self.crop = None
            return
        box = FaceBox.of_points(landmarks)
        c, crop = self.cfg, self.crop
        jump = False
        if crop is None:
            moved = True
        elif crop.is_whole(frame_shape):
            moved = box.size < c.whole_frame_at * min(frame_shape[:2]) * (1 - c.resize)  # it became small
        else:
            shift = np.abs(box.centre - np.array([crop.x0 + crop.w / 2, crop.y0 + crop.h / 2])).max() / crop.w
            grow = abs(c.face_scale * box.size / crop.w - 1)
            moved = shift > c.recentre or grow > c.resize
            # MediaPipe's video mode looks for the face where it was in the crop: after a jump it
            # loses it for a frame, so it is made to find it afresh. The first landmarks after a
            # placement from the detector's box always count as a jump (that box sits ~0.4 face
            # sizes higher than the landmarks' on the shipped clip)
            jump = self._from_detector or shift > c.jump or grow > 2 * c.resize
        if moved:
            self._place(box, frame_shape)
            self.jumped = self.jumped or jump
        else:
            self.face_box = box
        self._from_detector = False

    def body_crop(self, frame_shape: tuple[int, ...]) -> Crop | None:
        """The crop the pose model reads this person's shoulders from (None: no face; the whole
        frame where the face is read from the whole frame)."""
        if self.face_box is None:
            return None
        return body_crop(self.face_box, self.cfg, self.crop, frame_shape)


def face_crop(box: FaceBox, frame_shape: tuple[int, ...], config: FollowConfig, alone: bool = True) -> Crop:
    """Where the landmark models read the face of ``box``: the whole frame for a face of at
    least ``config.whole_frame_at`` of the frame's shorter side that is ``alone`` in it (a crop
    keeps other people out), else a square of ``face_scale`` face sizes around it."""
    if alone and box.size >= config.whole_frame_at * min(frame_shape[:2]):
        return Crop.whole(frame_shape)
    return Crop.around(box.centre, config.face_scale * box.size, config.crop_side)


def body_crop(box: FaceBox, config: FollowConfig, face: Crop, frame_shape: tuple[int, ...]) -> Crop:
    """Where the pose model (and a photo's person mask) read the body of the face in ``box``,
    whose landmarks are read from ``face`` (:func:`face_crop`): the whole frame where the face
    is, else a square of ``body_scale`` face sizes below it."""
    if face.is_whole(frame_shape):
        return face
    centre = box.centre + np.array([0.0, config.body_drop * box.size])
    return Crop.around(centre, config.body_scale * box.size, config.body_out)
