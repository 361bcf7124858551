"""The generate CLI: portraits + depth per seed, and videos driven by the reference files."""

from pathlib import Path

import imageio.v3 as iio
import pytest

from aniportrait_hub.commands.generate import main, parse_seeds

REF = Path(__file__).resolve().parents[2] / "examples" / "driving"


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("1,5") == [1, 5]
    with pytest.raises(ValueError, match="seeds"):
        parse_seeds("a-b")


def test_images_and_depth_per_seed(tmp_path):
    assert main(["--model", "preset:small", "--seeds", "0-1", "--outdir", str(tmp_path), "--resolution", "64"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "seed0000.png" in names and "seed0001_depth.png" in names and "seed0000_face.png" in names
    assert iio.imread(tmp_path / "seed0000.png").shape == (64, 64, 3)
    before = (tmp_path / "seed0000.png").read_bytes()
    assert main(["--model", "preset:small", "--seeds", "0", "--outdir", str(tmp_path)]) == 2  # no overwrite
    assert (tmp_path / "seed0000.png").read_bytes() == before


@pytest.mark.skipif(not REF.is_dir(), reason="examples/driving not present")
def test_reference_keyframes_drive_a_video(tmp_path, capsys):
    code = main(["--model", "preset:small", "--seeds", "0", "--outdir", str(tmp_path), "--resolution", "64",
                 "--exp_path", str(REF / "expression.npy"), "--pose_path", str(REF / "headpose.npy"),
                 "--n_interval", "2", "--fps", "10"])
    assert code == 0
    assert "expressions are NOT applied" in capsys.readouterr().err  # ARKit model, BFM rows
    frames = list(iio.imiter(tmp_path / "seed0000.mp4"))
    assert len(frames) == 7  # the pose's 4 keyframes with 2 frames per gap (expressions dropped)
    assert frames[0].shape == (64, 64, 3)


def test_the_embedded_default_model_is_used_when_no_model_is_given(tmp_path):
    assert main(["--seeds", "0", "--outdir", str(tmp_path), "--resolution", "64"]) == 0
    img = iio.imread(tmp_path / "seed0000.png")
    assert img.shape == (64, 64, 3) and img.std() > 10  # a picture, not a blank
