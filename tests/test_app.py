import gradio as gr
import numpy as np
import trimesh

import app


def test_body_explorer_writes_posed_meshes(tmp_path):
    cfg = app.AppConfig(out_dir=tmp_path)
    demo = app.build_demo(cfg)
    assert isinstance(demo, gr.Blocks)
    explorer = app.BodyExplorer(cfg)
    n = app.SHAPE_SLIDERS + len(app.POSE_SLIDERS) + len(app.EXPRESSION_SLIDERS)
    neutral = explorer.mesh(*([0.0] * n))
    values = [0.0] * n
    values[app.SHAPE_SLIDERS + list(app.POSE_SLIDERS).index("head yaw")] = 30.0
    turned = explorer.mesh(*values)
    assert neutral != turned  # a new file per request, nothing overwritten
    a = trimesh.load(neutral, force="mesh", process=False)
    b = trimesh.load(turned, force="mesh", process=False)
    assert len(a.vertices) == explorer.body.num_vertices
    moved = np.linalg.norm(a.vertices - b.vertices, axis=1)
    nose = explorer.body.landmark_vertex_ids["nose_tip"]
    assert moved[nose] > 0.02 and np.median(moved) < 1e-6  # the head turns, the body stays


def test_portrait_studio_renders_the_default_model_and_follows_the_controls(tmp_path):
    studio = app.PortraitStudio(app.AppConfig(out_dir=tmp_path, resolution=64))
    zeros = [0.0] * len(app.PORTRAIT_CONTROLS)
    a = studio.render(0, 0.7, *zeros)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    turned = list(zeros)
    turned[list(app.PORTRAIT_CONTROLS).index("head yaw")] = 30.0
    b = studio.render(0, 0.7, *turned)
    c = studio.render(1, 0.7, *zeros)
    assert np.abs(a.astype(int) - b).mean() > 1 and np.abs(a.astype(int) - c).mean() > 1
    import pytest

    with pytest.raises(gr.Error):
        studio.render(0, 1.5, *zeros)
