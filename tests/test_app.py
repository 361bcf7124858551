"""The browser demo: its engine (aniportrait_hub.studio) on the embedded default model, and the
app served on 127.0.0.1 and called through gradio_client: every named endpoint returns a valid
picture or video, and bad input comes back as the clear message, not a stack trace."""

import math
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import trimesh
from skimage import data

import app
from aniportrait_hub.pipelines.animation import DrivingSequence
from aniportrait_hub.studio import Pose, StudioError



def test_body_explorer_writes_posed_meshes(tmp_path):
    cfg = app.AppConfig(out_dir=tmp_path)
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


def _diff(a, b):
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_studio_follows_every_control_and_caches_the_person(studio):
    base, _ = studio.control(Pose(), seed=3)
    assert base.shape == (64, 64, 3) and base.dtype == np.uint8
    for change in ({"pose": Pose(head_yaw=30)}, {"pose": Pose(camera_yaw=25)}, {"pose": Pose(shrug_left=15)},
                   {"expression": {"jawOpen": 1.0}}, {"seed": 4}, {"edits": {"skin_tone": 2.0}}):
        kw = {"pose": Pose(), "seed": 3} | change
        assert _diff(base, studio.control(**kw)[0]) > 0.3, change
    n = len(studio._caches)
    studio.control(Pose(head_pitch=10), seed=3)  # the same person: no new bake
    assert len(studio._caches) == n
    img, depth = studio.generate(seed=3, depth=True, high_res=True)
    assert img.shape == (96, 96, 3) and depth.shape == (96, 96, 3) and depth.std() > 5
    sheet = studio.grid(0, 6)
    assert sheet.shape == (64, 128, 3)  # 2 rows of 4 tiles of 32


@pytest.mark.parametrize("call, message", [
    (lambda s: s.control(Pose(head_yaw=90)), "head_yaw = 90 outside"),
    (lambda s: s.control(Pose(camera_pitch=float("nan"))), "camera_pitch"),
    (lambda s: s.control(expression={"jawOpen": 1.5}), "jawOpen = 1.5 outside"),
    (lambda s: s.control(expression={"grin": 1}), "unknown expression unit 'grin'"),
    (lambda s: s.control(edits={"age": 4}), "age = 4 outside"),
    (lambda s: s.control(edits={"height": 1}), "unknown edit 'height'"),
    (lambda s: s.control(person="nobody"), "unknown person 'nobody'"),
    (lambda s: s.generate(seed=-1), "seed -1"),
    (lambda s: s.generate(truncation_psi=2), "truncation psi 2"),
    (lambda s: s.grid(0, 99), "count 99 outside"),
])
def test_studio_refuses_out_of_range_values(studio, call, message):
    with pytest.raises(StudioError, match=message):
        call(studio)


def test_settings_export_as_a_driving_sequence_and_people_as_identity_files(studio, tmp_path):
    seq = DrivingSequence.load(studio.control_sequence(Pose(head_yaw=20), {"jawOpen": 0.5}))
    assert len(seq) == 1 and math.isclose(math.degrees(float(seq.joint_eulers[0, 3, 1])), 20, abs_tol=1e-4)
    assert float(seq.expression[0, studio.exp_names.index("jawOpen")]) == 0.5
    f = studio.identity_file("seed", 5, 0.7)
    assert f.stat().st_size < 20_000
    name = studio.add_identity_file(f)
    assert name in studio.person_names() and name != "seed"
    a, b = studio.control(seed=5)[0], studio.control(person=name)[0]
    assert _diff(a, b) < 0.5  # the file draws the same person at the same psi
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a file of tensors")
    with pytest.raises(StudioError, match="not an identity file"):
        studio.add_identity_file(bad)


# ---------------------------------------------------------------------- served, through gradio_client
@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory):
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_named_endpoints_return_pictures(client):
    img, depth = client.predict(seed=2, truncation_psi=0.5, camera_yaw=10, depth=True, api_name="/generate")
    assert iio.imread(img).shape == (64, 64, 3) and iio.imread(depth).shape == (64, 64, 3)
    assert iio.imread(client.predict(first_seed=0, count=2, api_name="/grid")).shape == (32, 64, 3)
    a = iio.imread(client.predict(seed=2, api_name="/control"))
    b = iio.imread(client.predict(seed=2, head_yaw=30, expression={"jawOpen": 1.0}, api_name="/control"))
    assert a.shape == (64, 64, 3) and _diff(a, b) > 0.3


def _clip(path: Path, seconds: float, fps: float = 5.0) -> Path:
    from aniportrait_hub.video import write_video

    return write_video(path, (np.full((64, 64, 3), 30 * (i % 8), np.uint8) for i in range(int(seconds * fps))), fps)


def test_drive_endpoint_writes_an_h264_mp4(client, short_clip):
    from gradio_client import handle_file

    out = client.predict(video=handle_file(str(short_clip)), seed=1, relative=True, api_name="/drive")
    path = Path(out["video"] if isinstance(out, dict) else out)
    frames = iio.imread(path)
    assert frames.shape[1:] == (64, 64, 3) and len(frames) > 30
    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True).stderr
    assert "h264" in probe and "yuv420p" in probe


def test_drive_endpoint_refuses_an_unknown_driver_choice(client, short_clip):
    """Whom to follow in a video of several people is checked before any work."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="person must be one of largest, left, right or a number N"):
        client.predict(video=handle_file(str(short_clip)), follow="middle", api_name="/drive")


@pytest.mark.parametrize("make, message", [
    (lambda d: _bytes(d / "broken.mp4", b"\x00garbage" * 100), "broken.mp4 is not a readable video: its contents"),
    (lambda d: _png(d), "a still image"),
    (lambda d: _clip(d / "long.mp4", 10), "lasts 10.0 s"),
])
def test_drive_endpoint_refuses_bad_videos_with_a_message(client, tmp_path, make, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(video=handle_file(str(make(tmp_path))), api_name="/drive")


def _bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _png(d: Path) -> Path:
    iio.imwrite(d / "still.png", data.astronaut())
    return d / "still.png"


def test_out_of_range_values_come_back_as_the_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="camera_yaw = 90 outside"):
        client.predict(camera_yaw=90, api_name="/control")
    with pytest.raises(AppError, match="unknown person"):
        client.predict(person="someone-else", api_name="/control")


def test_animate_photo_endpoint_makes_a_person_the_others_draw(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    iio.imwrite(tmp_path / "astronaut.jpg", data.astronaut())
    name, preview, ident = client.predict(photo=handle_file(str(tmp_path / "astronaut.jpg")), api_name="/animate_photo")
    assert name.startswith("astronaut-") and iio.imread(preview).shape == (64, 64, 3)
    assert Path(ident).suffix == ".safetensors"
    turned = iio.imread(client.predict(person=name, head_yaw=25, api_name="/control"))
    assert turned.shape == (64, 64, 3)
    iio.imwrite(tmp_path / "sky.jpg", np.full((256, 256, 3), 200, np.uint8))
    with pytest.raises(AppError, match="no face"):
        client.predict(photo=handle_file(str(tmp_path / "sky.jpg")), api_name="/animate_photo")


def test_mcp_tools_describe_the_named_endpoints(studio, tmp_path):
    import json
    import urllib.request

    demo = app.build_demo(app.AppConfig(out_dir=tmp_path, mcp=True), studio)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, mcp_server=True)
    try:
        tools = {t["name"]: t for t in json.load(urllib.request.urlopen(url + "gradio_api/mcp/schema"))}
    finally:
        demo.close()
    assert {"generate", "grid", "control", "drive", "animate_photo"} <= set(tools)
    props = tools["control"]["inputSchema"]["properties"]
    assert "head turn in degrees" in props["head_yaw"]["description"]
    assert "jawOpen" in props["expression"]["description"]
    assert tools["animate_photo"]["description"].startswith("Turn a photo of one person")
