"""The default model's expression measurement reads both ways: face-mesh geometry and the ARKit
blendshape model, on the model and on the teacher (whose renders must read the unit given)."""

from aniportrait_hub.evaluation.default_model import Teacher, expression


def test_expression_measure_reports_face_mesh_and_arkit_readings(default_pipe):
    out = expression(default_pipe, seeds=1, steps=3, teacher=Teacher(), teacher_people=1)
    for unit in ("jawOpen", "eyeBlink", "mouthSmile"):
        assert out[unit]["seeds_measured"] == 1 and out[unit]["arkit"]["measured"] == 1
        t = out[unit]["teacher_arkit"]
        assert t["measured"] == 1 and t["read_at_1"] > t["read_at_0"] + 0.3, (unit, t)
