"""What the studio accepts: the control ranges and named units, the pose of one frame
(:class:`Pose`), the studio's run config (:class:`StudioConfig`) and its one error type
(:class:`StudioError`, input the user can fix)."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import torch

#: Joint rows of ``joint_eulers`` (SMPL joints 12-17) and Euler columns [z, y, x]: yaw turns
#: about y (up), pitch about x (left), roll about z (the body model's conventions).
NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER = range(6)
ROLL, YAW, PITCH = range(3)

#: Accepted ranges of the pose and camera controls, degrees (the default model's teacher saw
#: head turns to ~45 deg and camera moves to ~30 deg; beyond these the renders fall apart).
RANGES = {
    "head_yaw": (-45.0, 45.0), "head_pitch": (-30.0, 30.0), "head_roll": (-30.0, 30.0),
    "neck_yaw": (-30.0, 30.0), "neck_pitch": (-20.0, 20.0),
    "shrug_left": (-15.0, 15.0), "shrug_right": (-15.0, 15.0),
    "shoulder_left": (-20.0, 20.0), "shoulder_right": (-20.0, 20.0),
    "camera_yaw": (-30.0, 30.0), "camera_pitch": (-15.0, 15.0),
}

#: The expression units the Control tab shows first (the rest sit in an accordion).
MAIN_UNITS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp",
              "mouthPucker", "mouthFunnel", "browDownLeft", "browDownRight")


#: ffmpeg decoders of still-image files (a photo uploaded where a video belongs).
STILL_CODECS = ("png", "bmp", "tiff", "webp", "gif", "jpegls")


class StudioError(ValueError):
    """Input the user can fix (the message says what); the app shows it as a ``gr.Error``."""


@dataclasses.dataclass
class StudioConfig:
    """Settings of the app's engine (our choices, each named)."""

    model: str = "default"
    """``default`` (the embedded model), a pipeline folder, a Hub repo id, or preset:NAME."""
    preview_resolution: int = 256
    """Side of the fast previews (slider moves, live webcam)."""
    high_resolution: int = 512
    """Side of "high resolution" renders (the default model's full size)."""
    max_video_seconds: float = 20.0
    """Longer driving videos are refused (``drive`` on the command line has no such cap)."""
    max_video_side: int = 1920
    """Driving videos whose larger side exceeds this are refused (tracking reads every pixel)."""
    max_grid: int = 16
    """Most seeds in one grid."""
    cache_megabytes: float = 1000.0
    """Memory the baked people may hold together (least recently used dropped first; at least
    one is kept). A bake of the default model holds 120 MB: its 24 x 4 x 512^2 super-resolved
    maps are 101 MB of it."""
    photo_quality: str | object = "quick"
    """Own-photo inversion quality: a name in :data:`aniportrait_hub.inversion.identity.QUALITIES`
    or a :class:`~aniportrait_hub.inversion.identity.PhotoQuality`."""
    max_people: int = 32
    """Photo / file people kept (oldest dropped first)."""
    out_dir: Path = Path(tempfile.gettempdir()) / "aniportrait_hub_app"
    """Where the files the app hands out are written (one new file per request)."""
    keep_files_seconds: float = 3600.0
    """Files in ``out_dir`` older than this are removed (Gradio keeps its own copies)."""
    avatar: object = None
    """The exported avatars' :class:`~aniportrait_hub.export.avatar.AvatarConfig` (None: 512^2
    textures, every third grid row and column: the browser player's density)."""

    def __post_init__(self):
        if self.avatar is None:
            from aniportrait_hub.export.avatar import AvatarConfig

            self.avatar = AvatarConfig(texture=512, stride=3)


@dataclasses.dataclass
class Pose:
    """Pose and camera controls in degrees (names and ranges: :data:`RANGES`)."""

    head_yaw: float = 0.0
    head_pitch: float = 0.0
    head_roll: float = 0.0
    neck_yaw: float = 0.0
    neck_pitch: float = 0.0
    shrug_left: float = 0.0
    shrug_right: float = 0.0
    shoulder_left: float = 0.0
    shoulder_right: float = 0.0
    camera_yaw: float = 0.0
    camera_pitch: float = 0.0

    def check(self) -> "Pose":
        for name, (lo, hi) in RANGES.items():
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise StudioError(f"{name} = {v!r} outside [{lo:g}, {hi:g}] degrees")
        return self

    def labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(joint_eulers [1, 6, 3], camera [1, 2]) in radians."""
        r = math.radians
        eul = torch.zeros(1, 6, 3)
        eul[0, HEAD, YAW], eul[0, HEAD, PITCH], eul[0, HEAD, ROLL] = r(self.head_yaw), r(self.head_pitch), r(self.head_roll)
        eul[0, NECK, YAW], eul[0, NECK, PITCH] = r(self.neck_yaw), r(self.neck_pitch)
        # the right side mirrors the left: a positive value lifts either side
        eul[0, L_COLLAR, ROLL], eul[0, R_COLLAR, ROLL] = r(self.shrug_left), -r(self.shrug_right)
        eul[0, L_SHOULDER, ROLL], eul[0, R_SHOULDER, ROLL] = r(self.shoulder_left), -r(self.shoulder_right)
        cam = torch.tensor([[math.pi / 2 + r(self.camera_pitch), math.pi / 2 + r(self.camera_yaw)]])
        return eul, cam


def _follow_choice(follow: str | int) -> str | int:
    """The driver to follow (:func:`~aniportrait_hub.tracking.follow.parse_person`), or a
    :class:`StudioError` naming the choices."""
    from aniportrait_hub.tracking.follow import parse_person

    try:
        return parse_person(follow)
    except ValueError as err:
        raise StudioError(str(err)) from err
