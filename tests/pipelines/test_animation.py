"""Driving sequences: the authors' reference files import; keyframes interpolate exactly."""

from pathlib import Path

import numpy as np
import pytest
import torch

from aniportrait_hub.body.conventions import CANONICAL_EULERS, euler_zyx_to_matrix
from aniportrait_hub.pipelines.animation import (
    DrivingSequence,
    absolute_to_relative,
    sequence_from_authors_files,
    sequence_to_authors_files,
    shoulders_look_absolute,
)

REF = Path(__file__).resolve().parents[2] / "examples" / "driving"
needs_ref = pytest.mark.skipif(not REF.is_dir(), reason="examples/driving not present")


@needs_ref
def test_keyframes_interpolate_through_every_keyframe():
    seq = sequence_from_authors_files(pose_path=REF / "headpose.npy", n_interval=5, shoulders="relative")
    keys = np.load(REF / "headpose.npy")
    assert len(seq) == (len(keys) - 1) * 5 + 1
    assert torch.allclose(seq.joint_eulers[::5], torch.from_numpy(keys).float(), atol=1e-6)
    assert torch.allclose(seq.joint_eulers[2], torch.from_numpy(0.6 * keys[0] + 0.4 * keys[1]).float(), atol=1e-6)
    assert seq.expression_basis == "none" and seq.camera.shape == (len(seq), 2)


@needs_ref
def test_real_tracks_play_one_row_per_frame_and_shoulders_are_detected():
    poses = np.load(REF / "real_sample1" / "joint_eulers.npy")
    assert shoulders_look_absolute(poses)  # the caveat of the reference README
    seq = sequence_from_authors_files(REF / "real_sample1" / "expression.npy", REF / "real_sample1" / "joint_eulers.npy",
                                      REF / "real_sample1" / "camera_pose.npy", fps=12.5)
    assert len(seq) == 125 and seq.expression.shape == (125, 64) and seq.expression_basis == "bfm09"
    # Converted to relative: composing the canonical pose back gives the absolute rotation.
    k = 4  # joint 16
    back = euler_zyx_to_matrix(seq.joint_eulers[:, k]) @ euler_zyx_to_matrix(torch.tensor(CANONICAL_EULERS[16]))
    assert torch.allclose(back, euler_zyx_to_matrix(torch.from_numpy(poses[:, k]).float()), atol=1e-5)
    assert seq.joint_eulers[:, k, 0].abs().mean() < 0.5  # now small, relative angles


def test_round_trip_and_bad_files(tmp_path):
    seq = DrivingSequence(torch.zeros(3, 52), torch.zeros(3, 6, 3), torch.full((3, 2), 1.5), 25.0, "arkit52")
    seq.save(tmp_path / "s.npz")
    back = DrivingSequence.load(tmp_path / "s.npz")
    assert back.expression_basis == "arkit52" and len(back) == 3
    np.save(tmp_path / "bad.npy", np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match=r"has shape \(4, 5, 3\), expected \[K, 6, 3\]"):
        sequence_from_authors_files(pose_path=tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        sequence_from_authors_files(cam_path=tmp_path / "none.npy")
    with pytest.raises(ValueError, match="camera must be"):
        DrivingSequence(torch.zeros(3, 52), torch.zeros(3, 6, 3), torch.zeros(2, 2), 25.0, "arkit52")
    assert torch.allclose(absolute_to_relative(torch.zeros(1, 6, 3))[0, 3], torch.tensor([0.0, 0.0, -0.1554]),
                          atol=1e-6)


@needs_ref
def test_export_to_the_authors_files_and_back(tmp_path):
    d = REF / "real_sample1"
    seq = sequence_from_authors_files(d / "expression.npy", d / "joint_eulers.npy", d / "camera_pose.npy", fps=12.5)
    written = sequence_to_authors_files(seq, tmp_path / "bfm")
    assert sorted(p.name for p in written) == ["camera_pose.npy", "expression.npy", "joint_eulers.npy"]
    back = sequence_from_authors_files(*(tmp_path / "bfm" / n for n in ("expression.npy", "joint_eulers.npy",
                                                                       "camera_pose.npy")), fps=12.5)
    for name in ("expression", "joint_eulers", "camera"):
        assert torch.allclose(getattr(back, name), getattr(seq, name), atol=1e-6), name
    with pytest.raises(FileExistsError):
        sequence_to_authors_files(seq, tmp_path / "bfm")
    arkit = DrivingSequence(torch.rand(4, 52), torch.zeros(4, 6, 3), torch.full((4, 2), 1.5), 25.0, "arkit52")
    names = sorted(p.name for p in sequence_to_authors_files(arkit, tmp_path / "arkit"))
    assert names == ["camera_pose.npy", "joint_eulers.npy"]  # their expression files are BFM only
