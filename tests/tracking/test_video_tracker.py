"""A video -> a driving sequence: a clip of the default model turning its head and opening its
mouth under known labels is tracked back (head yaw seen from the camera, jawOpen); a clip with
no face is refused by name."""

import math

import numpy as np
import pytest
import torch

from aniportrait_hub import AniPortraitGAN
from aniportrait_hub.data.fit import head_orientations
from aniportrait_hub.pretrained import DEFAULT_MODEL
from aniportrait_hub.tracking import TrackingError, VideoTracker
from aniportrait_hub.video import write_video

FPS, FRAMES = 12.5, 25


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """2 s at 256^2: head yaw 20 deg * sin(pi t), jawOpen pulses; the labels beside it."""
    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    names = pipe.face_model().exp_names
    cache = pipe.bake_identity(seed=3)
    t = np.arange(FRAMES) / FPS
    eul = torch.zeros(FRAMES, 6, 3)
    eul[:, 3, 1] = torch.tensor(0.35 * np.sin(math.pi * t), dtype=torch.float32)
    exp = torch.zeros(FRAMES, len(names))
    exp[:, names.index("jawOpen")] = torch.tensor(np.clip(np.sin(2 * math.pi * t), 0, 1), dtype=torch.float32)
    cam = torch.full((FRAMES, 2), math.pi / 2)
    frames = []
    with torch.no_grad():
        for i in range(FRAMES):
            img = pipe.render_frame(cache, exp[i:i + 1], eul[i:i + 1], cam[i:i + 1], resolution=256,
                                    low_res=False).image[0]
            frames.append((img.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8))
    path = write_video(tmp_path_factory.mktemp("clip") / "turn.mp4", frames, FPS)
    return path, names, pipe.renderer().body, eul, exp, cam


def test_a_head_turn_and_an_open_mouth_are_tracked_back(clip):
    path, names, body, eul, exp, cam = clip
    with VideoTracker(names) as tracker:
        res = tracker.track_video(path)
    seq = res.sequence
    assert len(seq) == FRAMES and seq.fps == FPS and seq.expression_basis == "arkit52" and res.found.all()
    _, true = head_orientations(body, eul.numpy(), cam.numpy())
    _, got = head_orientations(body, seq.joint_eulers.numpy(), seq.camera.numpy())
    yaw_err = np.degrees(np.abs(got[:, 1] - true[:, 1])).mean()
    assert yaw_err < 3.0, yaw_err  # measured 1.0 deg
    jaw = names.index("jawOpen")
    assert np.corrcoef(seq.expression[:, jaw].numpy(), exp[:, jaw].numpy())[0, 1] > 0.9
    assert res.residual.max() < 3.0  # canonical pixels of a 256 crop


def test_a_clip_without_a_face_is_refused(tmp_path):
    blank = write_video(tmp_path / "blank.mp4", [np.full((96, 96, 3), 200, np.uint8)] * 6, 12)
    with VideoTracker(["jawOpen"]) as tracker, pytest.raises(TrackingError, match="no face found in any of the 6"):
        tracker.track_video(blank)
