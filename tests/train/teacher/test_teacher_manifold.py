"""The manifold phase's target field, by hand."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from train.teacher.config import TeacherConfig  # noqa: E402
from train.teacher.manifold import level_field, slab_bounds  # noqa: E402


def test_level_field_puts_first_level_at_front_and_last_at_back():
    front = torch.full((4, 4), 0.05)
    back = torch.full((4, 4), -0.05)
    levels = torch.linspace(23, 8, 24)
    pts = torch.tensor([[0.0, 0.0, 0.05], [0.0, 0.0, -0.05], [0.1, -0.1, 0.0], [0.0, 0.0, 0.15]])
    s = level_field(pts, front, back, (-0.22, 0.22), (-0.248, 0.192), levels)
    torch.testing.assert_close(s, torch.tensor([23.0, 8.0, 15.5, 38.0]))


def test_slab_bounds_cover_every_person_with_margins():
    z = np.full((2, 1, 32, 32), np.nan, np.float32)
    z[0, 0, 10:20, 10:20] = 0.03
    z[1, 0, 12:22, 12:22] = -0.02
    cfg = TeacherConfig(front_margin=0.01, back_margin=0.01, min_thickness=0.0, slab_dilation=3, slab_blur=0.5)
    front, back = slab_bounds(z, cfg)
    assert front.shape == (32, 32)
    # Inside the overlap: in front of the front-most person and behind the rearmost one.
    assert front[15, 15] >= 0.03 + 0.009 and back[15, 15] <= -0.02 - 0.009
    assert (front > back).all()
