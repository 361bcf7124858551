"""The app's Body model tab: the open body and face models posed by sliders (shape, head and
shoulder pose, ARKit expression units) and shown as a 3D mesh."""

from __future__ import annotations

import os
import tempfile

import gradio as gr
import numpy as np
import torch
import trimesh

from aniportrait_hub.body import BodyModel, FaceModel

#: Slider -> (joint_eulers row, Euler index [z, y, x], sign). Rows: neck, L collar, R collar,
#: head, L shoulder, R shoulder. Yaw turns about y (up), pitch about x (left), roll about z.
POSE_SLIDERS = {
    "head yaw": (3, 1, 1.0), "head pitch": (3, 2, 1.0), "head roll": (3, 0, 1.0),
    "neck yaw": (0, 1, 1.0), "neck pitch": (0, 2, 1.0),
    "shrug left": (1, 0, 1.0), "shrug right": (2, 0, -1.0),
    "left arm raise": (4, 0, 1.0), "right arm raise": (5, 0, -1.0),
}
EXPRESSION_SLIDERS = {
    "jaw open": ("jawOpen",), "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"), "brows up": ("browInnerUp",),
    "pucker": ("mouthPucker",),
}
SHAPE_SLIDERS = 3
#: The page shows the body above this height (world units; the face centre is at 0): the
#: head-and-shoulder region that portraits frame, with some chest for context.
CROP_BELOW = -0.6
SKIN_RGBA = np.array([224, 172, 150, 255], dtype=np.uint8)
FACE_RGBA = np.array([214, 150, 140, 255], dtype=np.uint8)


class BodyExplorer:
    """Poses the open body + face and writes the mesh for the page."""

    def __init__(self, cfg):
        """``cfg``: anything with an ``out_dir`` (the app's :class:`AppConfig`), where the meshes go."""
        self.cfg = cfg
        self.body = BodyModel.from_open_default()
        self.face = FaceModel.from_open_default()
        self.colors = np.tile(SKIN_RGBA, (self.body.num_vertices, 1))
        self.colors[self.face.body_vertex_ids.numpy()] = FACE_RGBA
        cfg.out_dir.mkdir(parents=True, exist_ok=True)

    def inputs(self, values: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Slider values (shape, pose in degrees, expression) -> betas, joint_eulers, expression."""
        betas = torch.zeros(1, 10)
        betas[0, :SHAPE_SLIDERS] = torch.tensor(values[:SHAPE_SLIDERS])
        eulers = torch.zeros(1, 6, 3)
        pose_vals = values[SHAPE_SLIDERS:SHAPE_SLIDERS + len(POSE_SLIDERS)]
        for (row, col, sign), deg in zip(POSE_SLIDERS.values(), pose_vals):
            eulers[0, row, col] += sign * np.radians(deg)
        exp = torch.zeros(1, self.face.num_expression)
        for units, val in zip(EXPRESSION_SLIDERS.values(), values[SHAPE_SLIDERS + len(POSE_SLIDERS):]):
            for unit in units:
                exp[0, self.face.exp_names.index(unit)] = val
        return betas, eulers, exp

    @torch.no_grad()
    def mesh(self, *values: float) -> str:
        """Write the posed mesh as GLB; return its path."""
        betas, eulers, exp = self.inputs(list(values))
        out = self.body(betas, eulers, rest_offsets=self.face.body_expression_offsets(exp))
        verts, faces = out.vertices[0].numpy(), self.body.faces.numpy()
        keep = (verts[faces][:, :, 1] > CROP_BELOW).all(axis=1)
        mesh = trimesh.Trimesh(verts, faces[keep], vertex_colors=self.colors, process=False)
        fd, path = tempfile.mkstemp(suffix=".glb", dir=self.cfg.out_dir)
        os.close(fd)
        mesh.export(path)
        return path


def body_tab(explorer: BodyExplorer, demo: gr.Blocks) -> None:
    """The body explorer: shape, pose and expression sliders -> a posed mesh."""
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tab("pose"):
                sliders_pose = [gr.Slider(-45, 45, 0, step=1, label=name) for name in POSE_SLIDERS]
            with gr.Tab("expression"):
                sliders_exp = [gr.Slider(0, 1, 0, step=0.05, label=name) for name in EXPRESSION_SLIDERS]
            with gr.Tab("shape"):
                sliders_shape = [gr.Slider(-3, 3, 0, step=0.1, label=f"shape {i}") for i in range(SHAPE_SLIDERS)]
            sliders = sliders_shape + sliders_pose + sliders_exp
        with gr.Column(scale=2):
            view = gr.Model3D(label="body", clear_color=(1, 1, 1, 1), camera_position=(90, 90, None), elem_id="body_view",
                              height=600)
    for s in sliders:
        s.change(explorer.mesh, sliders, view, trigger_mode="always_last", show_progress="hidden",
                 api_visibility="private")
    demo.load(explorer.mesh, sliders, view, api_visibility="private")
