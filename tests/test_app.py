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
