"""``aniportrait animate``: a photo becomes an mp4 and a personal model that a
second run reuses; bad input is refused with exit status 2 and a message; nothing the user has
is modified or overwritten."""

import hashlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image
from skimage import data

from aniportrait_hub.commands.animate import main


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow  # the command end to end, twice (its pieces: tests/inversion, tests/test_app.py)
def test_a_photo_becomes_a_video_and_a_reusable_personal_model(tmp_path, capsys):
    photo = tmp_path / "me.png"
    Image.fromarray(data.astronaut()).save(photo)
    sha = _sha(photo)
    out, ident = tmp_path / "me.mp4", tmp_path / "me_model"
    # 1 + 1 steps: the command's plumbing; the quality presets are measured in BENCHMARKS.md
    assert main(["--photo", str(photo), "--sweep", "camera", "--seconds", "1", "--fps", "6", "--resolution", "64",
                 "--invert_steps", "1", "--tune_steps", "1", "--map_steps", "2", "--out", str(out), "--save-identity", str(ident)]) == 0
    frames = iio.imread(out)
    assert frames.shape == (6, 64, 64, 3) and frames.std() > 10
    assert _sha(photo) == sha and (ident / "identity.safetensors").is_file()
    again = tmp_path / "again.mp4"
    assert main(["--identity", str(ident), "--sweep", "expression", "--seconds", "1", "--fps", "6",
                 "--resolution", "64", "--edit", "skin_tone=1", "--out", str(again)]) == 0
    assert iio.imread(again).shape == (6, 64, 64, 3)
    capsys.readouterr()
    assert main(["--identity", str(ident), "--out", str(again)]) == 2  # exists
    assert "exists" in capsys.readouterr().err


def test_unusable_photos_are_refused_by_name(tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 200, np.uint8)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for path, words in ((blank, "no face"), (broken, "broken.jpg")):
        assert main(["--photo", str(path), "--out", str(tmp_path / "x.mp4")]) == 2
        assert words in capsys.readouterr().err.lower()
    assert main(["--photo", str(blank), "--out", str(tmp_path / "x.mp4"), "--edit", "age"]) == 2
    assert "name=strength" in capsys.readouterr().err.lower()
    assert main(["--photo", str(blank), "--out", str(tmp_path / "x.mp4"), "--invert_steps", "0"]) == 2
    assert "--invert_steps 0 outside [1, 500]" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
