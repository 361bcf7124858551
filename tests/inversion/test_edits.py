"""Attribute edits: the default model ships a direction per attribute; each moves its own label
(measured on the synthetic teacher) far more than the others, a skin-tone edit darkens the
rendered face, and bad edits are refused by name."""

import numpy as np
import pytest

from aniportrait_hub.inversion.edits import ATTRIBUTES, parse_edits, teacher_effects


@pytest.fixture(scope="module")
def pipe(default_pipe):
    return default_pipe


def test_each_edit_moves_its_own_attribute(pipe):
    directions = pipe.config.edit_directions
    assert set(ATTRIBUTES) <= set(directions)
    effects = teacher_effects(directions, n=1500)
    for name, row in effects.items():
        assert row[name] > 0.6, (name, row)
        others = [abs(v) for k, v in row.items() if k != name]
        assert max(others) < 0.35 * row[name], (name, row)


def test_a_skin_tone_edit_darkens_the_rendered_face(pipe):
    def face_luma(strength):
        out = pipe(seed=4, resolution=64, face_resolution=64, output_type="np", edits={"skin_tone": strength})
        face = out.face_images[0][24:40, 20:44]  # cheeks and nose
        return float(face.mean())

    assert face_luma(1.5) < face_luma(-1.5) - 0.05


def test_bad_edits_are_refused(pipe):
    with pytest.raises(ValueError, match="unknown edit 'beard'"):
        pipe(seed=0, resolution=32, edits={"beard": 1.0})
    with pytest.raises(ValueError, match=r"outside \[-3, 3\]"):
        pipe(seed=0, resolution=32, edits={"age": 7})
    with pytest.raises(ValueError, match="NAME=STRENGTH"):
        parse_edits(["age"])
    assert parse_edits(["age=+1", "skin_tone=-0.5"]) == {"age": 1.0, "skin_tone": -0.5}
    assert np.isfinite(pipe(seed=0, resolution=32, output_type="np", edits={"weight": 2.0}).images).all()
