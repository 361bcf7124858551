"""The app's named API endpoints (``/generate``, ``/grid``, ``/control``, ``/drive``,
``/animate_photo``: for ``gradio_client`` and, with ``--mcp``, as MCP tools). Each is a typed
function over one :class:`~aniportrait_hub.studio.engine.Studio` whose docstring is what API
clients read; :class:`~aniportrait_hub.studio.inputs.StudioError` reaches them as a
``gr.Error`` message, never a stack trace."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import gradio as gr

from aniportrait_hub.studio.engine import Studio
from aniportrait_hub.studio.inputs import Pose, StudioError


def user_errors(fn):
    """``fn`` with :class:`StudioError` (input the user can fix) shown as a ``gr.Error`` message
    in the page and to API clients, never as a stack trace."""
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudioError as err:
            raise gr.Error(str(err)) from err
    return inner


def endpoints(studio: Studio) -> SimpleNamespace:
    """The named endpoints over ``studio``: ``generate``, ``grid``, ``control``, ``drive`` and
    ``animate_photo``."""
    @user_errors
    def generate(seed: int = 0, truncation_psi: float = 0.7, camera_yaw: float = 0.0, camera_pitch: float = 0.0,
                 high_res: bool = False, depth: bool = False) -> tuple[str, str | None]:
        """Render a person sampled from the model, frontal and neutral, seen from a chosen camera.

        Args:
            seed: which person (a whole number >= 0).
            truncation_psi: 0 = the average person, 1 = the full variety (in [0, 1]).
            camera_yaw: camera turned left / right in degrees (-30 to 30).
            camera_pitch: camera tilted up / down in degrees (-15 to 15).
            high_res: render 512 x 512 instead of the 256 x 256 preview.
            depth: also return the depth picture.

        Returns:
            The portrait PNG and the depth PNG (None without depth).
        """
        img, d = studio.generate(seed, truncation_psi, camera_yaw, camera_pitch, high_res, depth)
        return str(studio.save_png(img, f"seed{int(seed)}")), (None if d is None else str(studio.save_png(d, "depth")))

    @user_errors
    def grid(first_seed: int = 0, count: int = 8, truncation_psi: float = 0.7) -> str:
        """Several sampled people side by side (consecutive seeds).

        Args:
            first_seed: the first seed.
            count: how many people (1 to 16).
            truncation_psi: 0 = average, 1 = full variety.

        Returns:
            One PNG with the people in rows of four.
        """
        return str(studio.save_png(studio.grid(first_seed, count, truncation_psi), "grid"))

    @user_errors
    def control(person: str = "seed", seed: int = 0, truncation_psi: float = 0.7, head_yaw: float = 0.0,
                head_pitch: float = 0.0, head_roll: float = 0.0, neck_yaw: float = 0.0, neck_pitch: float = 0.0,
                shrug_left: float = 0.0, shrug_right: float = 0.0, shoulder_left: float = 0.0,
                shoulder_right: float = 0.0, camera_yaw: float = 0.0, camera_pitch: float = 0.0,
                expression: dict | None = None, edits: dict | None = None, high_res: bool = False) -> str:
        """Render one person under an explicit pose, camera, facial expression and attribute edits.

        Args:
            person: "seed" for a sampled person, or the name /animate_photo returned.
            seed: the sampled person's seed (person "seed" only).
            truncation_psi: in [0, 1] (person "seed" only).
            head_yaw: head turn in degrees (-45 to 45); head_pitch (-30 to 30) and head_roll (-30 to 30) likewise.
            head_pitch: head nod in degrees.
            head_roll: head tilt in degrees.
            neck_yaw: neck turn in degrees (-30 to 30).
            neck_pitch: neck nod in degrees (-20 to 20).
            shrug_left: left collar raised in degrees (-15 to 15).
            shrug_right: right collar raised in degrees (-15 to 15).
            shoulder_left: left upper arm raised in degrees (-20 to 20).
            shoulder_right: right upper arm raised in degrees (-20 to 20).
            camera_yaw: camera turned in degrees (-30 to 30).
            camera_pitch: camera tilted in degrees (-15 to 15).
            expression: ARKit unit -> intensity in [0, 1], e.g. {"jawOpen": 0.6, "mouthSmileLeft": 0.8}.
            edits: attribute -> strength in standard deviations in [-3, 3], e.g. {"age": 1.0}
                (age, gender, weight, hair_length, skin_tone).
            high_res: render 512 x 512 instead of 256 x 256.

        Returns:
            The portrait PNG.
        """
        pose = Pose(head_yaw, head_pitch, head_roll, neck_yaw, neck_pitch, shrug_left, shrug_right, shoulder_left,
                    shoulder_right, camera_yaw, camera_pitch)
        img, _ = studio.control(pose, expression, person, seed, truncation_psi, edits, high_res)
        return str(studio.save_png(img, person))

    @user_errors
    def drive(video: str, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7, relative: bool = True,
              smoothing: float = 0.3, multiplier: float = 1.0, side_by_side: bool = False, follow: str = "largest",
              progress=gr.Progress(track_tqdm=True)) -> str:
        """Animate a person with a video of a talking, moving face (at most 20 s).

        Args:
            video: the driving video (mp4, mov, webm, ...).
            person: "seed" for a sampled person, or the name /animate_photo returned.
            seed: the sampled person's seed (person "seed" only).
            truncation_psi: in [0, 1] (person "seed" only).
            relative: apply the driver's motion relative to its first frame (False: absolute pose and camera).
            smoothing: temporal smoothing of the tracked motion in [0, 1].
            multiplier: expression strength in [0, 5].
            side_by_side: put the driver left of the result.
            follow: whom to track where the video shows several people: "largest", "left", "right", or "N"
                for the N-th face from the left.

        Returns:
            An mp4 (H.264, with the driver's audio).
        """
        if not video:
            raise StudioError("upload a driving video first")
        return str(studio.drive(video, person, seed, truncation_psi, relative, smoothing, multiplier, side_by_side,
                                follow=follow))

    @user_errors
    def animate_photo(photo: str, progress=gr.Progress(track_tqdm=True)) -> tuple[str, str, str]:
        """Turn a photo of one person (head and shoulders, facing the camera) into a person the
        other endpoints can draw and animate (about a minute on a CPU).

        Args:
            photo: the photo (JPEG, PNG, ...).

        Returns:
            The person's name (pass it as `person`), a preview PNG, and the person as an identity file.
        """
        if not photo:
            raise StudioError("upload a photo first")
        name = studio.add_photo(photo)
        img, _ = studio.control(person=name)
        return name, str(studio.save_png(img, name)), str(studio.identity_file(name))

    return SimpleNamespace(generate=generate, grid=grid, control=control, drive=drive, animate_photo=animate_photo)
