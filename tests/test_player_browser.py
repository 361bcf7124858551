"""The avatar player in a real browser (issue 32): the app's Avatar tab exports a person and opens
the player; Chromium's fake webcam plays the shipped talking clip, MediaPipe's FaceLandmarker for
the web tracks it and the avatar follows: its head turns and its mouth opens as the clip's do.
The frame rates the page reports are written to the screenshot folder (speed is measured by
``benchmarks/realtime.py``, not asserted here).

Software WebGL (SwiftShader) needs ``--headless=new --use-angle=swiftshader
--enable-unsafe-swiftshader``; without ``--disable-background-timer-throttling
--disable-renderer-backgrounding`` requestAnimationFrame ran at 1 fps.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real browser tracking a clip for several seconds

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "driving" / "synthetic_talk.mp4"
WEBGL_FLAGS = ["--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
               "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
               "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

if os.environ.get("ANIPORTRAIT_REQUIRE_BROWSER") == "1":  # CI: run, never skip
    import playwright.sync_api as playwright
else:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
    if not (ROOT / "web" / "node_modules" / "three").is_dir():
        pytest.skip("web/node_modules missing (make test runs npm ci)", allow_module_level=True)
    playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory) -> Path:
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("camera") / "talk.y4m"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(EXAMPLE), "-vf", "scale=320:-2",
                    "-pix_fmt", "yuv420p", "-r", "15", str(out)], check=True)
    return out


def test_the_avatar_player_follows_the_webcam(app_url, camera_clip, tmp_path):
    shots = Path(os.environ.get("APP_SCREENSHOTS") or tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=WEBGL_FLAGS + [f"--use-file-for-fake-video-capture={camera_clip}"])
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, permissions=["camera"])
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(app_url)
        page.get_by_role("tab", name="Avatar").click()
        page.locator("#avatar_go").click()
        frame = page.locator("#avatar_player iframe")
        frame.wait_for()
        src = frame.get_attribute("src")
        assert "player.html" in src and ".glb" in src
        # the app's page plays it with the sliders
        inner = page.frame_locator("#avatar_player iframe")
        inner.locator("#stats").filter(has_text="fps").wait_for()
        page.screenshot(path=str(shots / "avatar_tab.png"))
        # the same player on the webcam (the fake camera plays the talking clip)
        player = ctx.new_page()
        player.goto(app_url.rstrip("/") + src + "&webcam=1")
        player.wait_for_function("window.playerStats && window.playerStats.error === null && "
                                 "window.playerStats.source === 'webcam' && window.playerStats.tracked > 10",
                                 timeout=180_000)
        yaw, jaw, end = [], [], time.time() + 12
        while time.time() < end:
            s = player.evaluate("window.playerStats")
            yaw.append(s["yawDeg"])
            jaw.append(s["jawOpen"])
            time.sleep(0.2)
        stats = player.evaluate("window.playerStats")
        player.screenshot(path=str(shots / "avatar_player.png"))
        browser.close()
    assert stats["error"] is None and stats["triangles"] > 1000
    # the clip turns its head and opens its mouth: so does the avatar
    assert max(yaw) - min(yaw) > 4, (min(yaw), max(yaw))
    assert max(jaw) - min(jaw) > 0.15, (min(jaw), max(jaw))
    (shots / "avatar_player_stats.json").write_text(json.dumps({k: stats[k] for k in (
        "renderFps", "trackFps", "frames", "tracked", "triangles")}, indent=1))
    assert stats["renderFps"] > 0 and stats["trackFps"] > 0
