"""`aniportrait drive` and `track`: the shipped talking clip with a tone drives the
default model into an mp4 with that audio (side by side and depth too); the authors' real track
drives it without audio; bad input is refused by name and nothing is overwritten."""

import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from aniportrait_hub.commands.drive import main
from aniportrait_hub.video import _ffmpeg, has_audio, write_video

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "driving"


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    """The first 0.96 s (12 frames at 12.5 fps) of the shipped synthetic clip, silent and with a
    440 Hz tone."""
    folder = tmp_path_factory.mktemp("talking")
    silent, voiced = folder / "silent.mp4", folder / "voiced.mp4"
    src = EXAMPLES / "synthetic_talk.mp4"
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(src), "-t", "0.96", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(silent)], check=True)
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-t", "0.96",
                    str(voiced)], check=True)
    return silent, voiced


@pytest.mark.slow  # tracking, two renders and the audio remux end to end (its pieces: tests/tracking, test_app)
def test_a_video_drives_the_default_model_with_its_audio(talking, tmp_path, capsys):
    _, voiced = talking
    out, seq = tmp_path / "out.mp4", tmp_path / "seq.npz"
    # the options in either spelling: --side-by-side or --side_by_side
    assert main(["--video", str(voiced), "--out", str(out), "--seed", "4", "--resolution", "96", "--side-by-side",
                 "--depth", "--save_sequence", str(seq)]) == 0
    video = iio.imread(out, index=None)
    assert video.shape == (12, 96, 192, 3) and has_audio(out)  # driver | result
    assert iio.imread(tmp_path / "out_depth.mp4", index=None).shape == (12, 96, 96, 3)
    # the saved sequence drives again, and an existing output is refused, untouched
    before = out.read_bytes()
    assert main(["--sequence", str(seq), "--out", str(out), "--resolution", "64"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    again = tmp_path / "again.mp4"
    assert main(["--sequence", str(seq), "--out", str(again), "--resolution", "64"]) == 0
    assert iio.imread(again, index=None).shape == (12, 64, 64, 3) and not has_audio(again)


def test_the_authors_real_track_drives_pose_and_camera(tmp_path, capsys):
    out = tmp_path / "real.mp4"
    assert main(["--authors", str(EXAMPLES / "real_sample1"), "--out", str(out), "--max-seconds", "1",
                 "--resolution", "64"]) == 0
    err = capsys.readouterr().err
    assert "NOT applied" in err and "first 1 s" in err  # BFM rows on an ARKit model; the cut
    assert iio.imread(out, index=None).shape[0] == 12


def test_bad_drivers_are_refused_by_name(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 40)
    blank = write_video(tmp_path / "blank.mp4", [np.full((96, 96, 3), 200, np.uint8)] * 6, 12)
    for driver, why in ((text, "not a video ffmpeg can decode"), (blank, "no face found in any")):
        out = tmp_path / f"{driver.stem}_out.mp4"
        assert main(["--video", str(driver), "--out", str(out)]) == 2
        assert why in capsys.readouterr().err and not out.exists()
    assert main(["--authors", str(tmp_path), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "holds none of" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.mp4", "notes.mp4"]  # nothing half-written


def test_track_writes_a_sequence_and_the_authors_files(talking, tmp_path):
    from aniportrait_hub.commands.track import main as track
    from aniportrait_hub.pipelines.animation import DrivingSequence, sequence_from_authors_files

    silent, _ = talking
    out, authors = tmp_path / "seq.npz", tmp_path / "authors"
    assert track(["--video", str(silent), "--out", str(out), "--authors_dir", str(authors)]) == 0
    seq = DrivingSequence.load(out)
    assert len(seq) == 12 and seq.fps == 12.5 and seq.expression_basis == "arkit52"
    back = sequence_from_authors_files(pose_path=authors / "joint_eulers.npy", cam_path=authors / "camera_pose.npy",
                                       n_interval=1, fps=12.5)  # 12 rows: one per frame, not keyframes
    assert torch.allclose(back.joint_eulers, seq.joint_eulers, atol=1e-6)
    assert track(["--video", str(silent), "--out", str(out)]) == 2  # exists: refused
    # a photo: a one-frame sequence; what is not a photo is refused and nothing written
    import imageio.v3 as iio
    from skimage import data

    iio.imwrite(tmp_path / "astronaut.png", data.astronaut())
    assert track(["--photo", str(tmp_path / "astronaut.png"), "--out", str(tmp_path / "one.npz")]) == 0
    one = DrivingSequence.load(tmp_path / "one.npz")
    from aniportrait_hub.body import FaceModel

    smile = FaceModel.from_open_default().exp_names.index("mouthSmileLeft")
    assert len(one) == 1 and one.expression[0, smile] > 0.5  # she smiles
    (tmp_path / "notes.png").write_text("not a photo")
    assert track(["--photo", str(tmp_path / "notes.png"), "--out", str(tmp_path / "two.npz")]) == 2
    assert not (tmp_path / "two.npz").exists()
