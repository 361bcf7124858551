"""The ARKit expression tracker (MediaPipe FaceLandmarker blendshapes) reads the synthetic
renderer's faces: the unit it was given rises, the others stay low; bad input is named."""

import numpy as np
import pytest

from aniportrait_hub.tracking import FACE_LANDMARKER_SHA256, BlendshapeTracker, TrackingError, face_landmarker_path


@pytest.fixture(scope="module")
def teacher_faces(default_pipe):
    from aniportrait_hub.evaluation.default_model import FRONTAL, Teacher, _exp

    pipe = default_pipe
    names = pipe.face_model().exp_names
    teacher = Teacher()

    def face(**units):
        lab = {"expression": _exp(pipe, **units)[0].numpy(), "camera": list(FRONTAL),
               "joint_eulers": np.zeros((6, 3), np.float32)}
        return teacher.face(0, lab)

    return names, face


def test_the_bundled_model_is_the_verified_release():
    import hashlib

    p = face_landmarker_path()
    assert hashlib.sha256(p.read_bytes()).hexdigest() == FACE_LANDMARKER_SHA256


def test_expression_units_are_read_from_synthetic_faces(teacher_faces):
    names, face = teacher_faces
    with BlendshapeTracker(names) as tr:
        neutral = tr.read(face())
        assert neutral is not None and neutral.expression.shape == (len(names),)
        assert neutral.read.sum() == 51 and not neutral.read[names.index("tongueOut")]
        assert neutral.landmarks.shape == (478, 3) and neutral.transform.shape == (4, 4)
        for units in (("jawOpen",), ("eyeBlinkLeft", "eyeBlinkRight"), ("mouthSmileLeft", "mouthSmileRight")):
            r = tr.read(face(**{u: 1.0 for u in units}))
            ids = [names.index(u) for u in units]
            assert r.expression[ids].mean() > neutral.expression[ids].mean() + 0.4, (units, r.expression[ids])


def test_video_mode_wants_increasing_timestamps_and_a_blank_frame_has_no_face(teacher_faces):
    names, face = teacher_faces
    with BlendshapeTracker(names, video=True) as tr:
        assert tr.read(face(), timestamp_ms=0) is not None
        assert tr.read(np.full((256, 256, 3), 255, np.uint8), timestamp_ms=40) is None
        with pytest.raises(TrackingError, match="increase"):
            tr.read(face(), timestamp_ms=40)


def test_bad_input_is_named(tmp_path):
    with BlendshapeTracker(["jawOpen"]) as tr:
        with pytest.raises(TrackingError, match="uint8"):
            tr.read(np.zeros((64, 64, 3), np.float32))
        with pytest.raises(TrackingError, match="RGB"):
            tr.read(np.zeros((64, 64), np.uint8))
    with pytest.raises(TrackingError, match="does not exist"):
        face_landmarker_path(tmp_path / "missing.task")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(TrackingError, match="not a .task"):
        face_landmarker_path(tmp_path / "model.bin")
    (tmp_path / "broken.task").write_bytes(b"not a model")
    with pytest.raises(TrackingError, match="could not load"):
        BlendshapeTracker(["jawOpen"], model_path=tmp_path / "broken.task")
    with pytest.raises(ValueError, match="no named units"):
        BlendshapeTracker([])
