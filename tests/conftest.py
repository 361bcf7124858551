"""Test set-up: no network, no analytics; tiny real components shared per session.

What many test files would otherwise build again and again is built once per session (per
worker under ``pytest -n``): the body and face models, the embedded default pipeline (whose first
frame also computes the model's seam pairs, field grid and face triangles), one Studio on it, and
one app served on 127.0.0.1 for the ``gradio_client`` and browser tests. Tests that change a
pipeline build their own.
"""

import os
import tempfile
from pathlib import Path

# Read at import time by huggingface_hub and gradio: set before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# C2PA signing credentials are made on first use: in a throw-away folder, not the user's cache
os.environ.setdefault("ANIPORTRAIT_C2PA_DIR", tempfile.mkdtemp(prefix="aniportrait_c2pa_"))

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "driving"


def pytest_configure(config):
    """Under pytest-xdist each worker gets its share of the cores: N workers each running torch
    on every core would fight over them (libgomp teams waking for each of thousands of small ops)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        threads = max(1, (os.cpu_count() or 1) // int(workers))
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # the trainer's and teacher's subprocesses too


@pytest.fixture(scope="session")
def body():
    from aniportrait_hub.body import BodyModel

    return BodyModel.from_open_default()


@pytest.fixture(scope="session")
def face():
    from aniportrait_hub.body import FaceModel

    return FaceModel.from_open_default()


@pytest.fixture(scope="session")
def default_pipe():
    """The embedded default model, loaded once. Read-only: a test that tunes, re-sets or attaches
    anything to a pipeline loads its own (``AniPortraitGAN.from_pretrained(DEFAULT_MODEL)``)."""
    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN

    return AniPortraitGAN.from_pretrained(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """The first 2.64 s (33 frames at 12.5 fps) of the shipped talking clip: what the drive tests
    need (more than 30 frames tracked and rendered) at half the clip's cost."""
    import subprocess

    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("clip") / "talk_short.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i",
                    str(EXAMPLES / "synthetic_talk.mp4"), "-t", "2.64", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def studio(default_pipe, tmp_path_factory):
    """The app's engine on the default model at tiny sizes, with a 1 + 1 + 2-step photo inversion
    (the endpoints' plumbing, not the inversion's quality: tests/inversion). ``APP_PREVIEW`` and
    ``APP_SCREENSHOTS`` (the README's screenshots) ask for a larger preview and the quick
    inversion."""
    from aniportrait_hub.inversion import InversionConfig, PhotoQuality, TuneConfig
    from aniportrait_hub.inversion.maps import MapTuneConfig
    from aniportrait_hub.studio import Studio, StudioConfig

    side = int(os.environ.get("APP_PREVIEW", "64"))
    docs = bool(os.environ.get("APP_SCREENSHOTS"))
    quality = "quick" if docs else PhotoQuality(InversionConfig(steps=1), TuneConfig(steps=1), MapTuneConfig(steps=2))
    high = 96 if side == 64 else 2 * side  # tests/test_app.py checks 96; the screenshots show 2x the preview
    return Studio(StudioConfig(preview_resolution=side, high_resolution=high, photo_quality=quality,
                               max_video_seconds=8, out_dir=tmp_path_factory.mktemp("studio")), pipe=default_pipe)


@pytest.fixture(scope="session")
def app_url(studio, tmp_path_factory):
    """The app served once on 127.0.0.1 for every gradio_client and browser test."""
    import app

    cfg = app.AppConfig(out_dir=tmp_path_factory.mktemp("app"), resolution=studio.cfg.preview_resolution)
    demo = app.build_demo(cfg, studio)
    demo.queue(default_concurrency_limit=cfg.concurrency)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()
