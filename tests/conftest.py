"""Test set-up: no network, no analytics; tiny real components shared per session."""

import os
import tempfile

# Read at import time by huggingface_hub and gradio: set before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# C2PA signing credentials are made on first use: in a throw-away folder, not the user's cache
os.environ.setdefault("ANIPORTRAIT_C2PA_DIR", tempfile.mkdtemp(prefix="aniportrait_c2pa_"))

import pytest


@pytest.fixture(scope="session")
def body():
    from aniportrait_hub.body import BodyModel

    return BodyModel.from_open_default()


@pytest.fixture(scope="session")
def face():
    from aniportrait_hub.body import FaceModel

    return FaceModel.from_open_default()
