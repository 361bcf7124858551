"""Real time: exported glTF avatars against the volumetric renderer (issue 32).

    python benchmarks/realtime.py [--seeds 8] [--photo] [--browser] [--out benchmarks/results/realtime.json]

- **Export**: seconds, triangles and file size of ``build_avatar`` + ``write_glb`` per seed (the
  default density, ``stride=2``, and the player's, ``stride=3``), 512^2 textures.
- **Fidelity** of the raster path (``export/raster.py``, OpenGL on EGL) against
  ``render_frame`` at the same labels, PSNR at 256^2: neutral frontal, camera yaw -+20 deg, the
  head turned 25 deg, jawOpen 0.6 with a smile; on ``--seeds`` seeds and, with ``--photo``, on
  the astronaut's personal model (quick).
- **Speed**: the raster frame (morphs, skinning, draw, read back) at 256^2 and 512^2 against
  ``render_frame`` on a baked identity, in the same run.
- **Browser** (``--browser``): the player page in Chromium (software WebGL), its rendered frame
  rate at 384^2 and 512^2 driven by the sliders, and rendered + tracked with the fake webcam
  playing the shipped clip.
- Pictures: ``docs/avatar_raster.png`` (volumetric | raster, three poses, two people).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def conditions(exp_names):
    smile = torch.zeros(1, len(exp_names))
    for n, v in (("jawOpen", 0.6), ("mouthSmileLeft", 0.8), ("mouthSmileRight", 0.8)):
        smile[0, exp_names.index(n)] = v
    head = torch.zeros(1, 6, 3)
    head[0, 3, 1] = math.radians(25)
    z, e = torch.zeros(1, len(exp_names)), torch.zeros(1, 6, 3)
    cam = lambda yaw: torch.tensor([[math.pi / 2, math.pi / 2 + math.radians(yaw)]])  # noqa: E731
    return {"neutral": (z, e, cam(0)), "yaw-20": (z, e, cam(-20)), "yaw+20": (z, e, cam(20)),
            "head_turn": (z, head, cam(0)), "jaw_smile": (smile, e, cam(0))}


def _psnr(a, b) -> float:
    return float(-10 * np.log10(max(((a - b) ** 2).mean(), 1e-12)))


@torch.no_grad()
def fidelity(pipe, cache, raster, exp_names, side=256, keep=None) -> dict:
    from aniportrait_hub.rendering.cameras import portrait_camera

    st = pipe.render_settings
    out = {}
    for name, (exp, eul, cam) in conditions(exp_names).items():
        ref = pipe.render_frame(cache, exp, eul, cam, side).image[0].permute(1, 2, 0).numpy()
        jt = pipe.renderer().body(cache.betas, eul).joint_transforms[0]
        img, _ = raster.render(portrait_camera(cam, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift), jt,
                               exp[0], side)
        out[name] = round(_psnr(img, ref), 2)
        if keep is not None and name in ("neutral", "head_turn", "jaw_smile"):
            keep.append(np.concatenate([ref, img], 1))
    return out


@torch.no_grad()
def speed(pipe, cache, raster, repeats=5) -> dict:
    from aniportrait_hub.rendering.cameras import portrait_camera

    st = pipe.render_settings
    exp, eul, cam = conditions(list(pipe.face_model().exp_names))["jaw_smile"]
    jt = pipe.renderer().body(cache.betas, eul).joint_transforms[0]
    pc = portrait_camera(cam, st.portrait_radius, st.portrait_fov_deg, st.portrait_shift)
    out = {}
    for side in (256, 512):
        pipe.render_frame(cache, exp, eul, cam, side)
        raster.render(pc, jt, exp[0], side)
        t = time.perf_counter()
        for _ in range(repeats):
            pipe.render_frame(cache, exp, eul, cam, side)
        vol = (time.perf_counter() - t) / repeats
        t = time.perf_counter()
        for _ in range(repeats * 4):
            raster.render(pc, pipe.renderer().body(cache.betas, eul).joint_transforms[0], exp[0], side)
        ras = (time.perf_counter() - t) / (repeats * 4)
        out[str(side)] = {"render_frame_s": round(vol, 4), "raster_s": round(ras, 4), "speedup": round(vol / ras, 1)}
        print("speed", side, out[str(side)], flush=True)
    return out


def browser(glb: Path, seconds: float = 10.0) -> dict:
    """The player in Chromium, served by a plain HTTP server over web/ and the .glb."""
    import shutil
    import socket

    import imageio_ffmpeg
    import playwright.sync_api as pw

    from aniportrait_hub.tracking.blendshapes import face_landmarker_path

    tmp = Path(tempfile.mkdtemp())
    (tmp / "web").symlink_to(ROOT / "web")
    shutil.copy(glb, tmp / "a.glb")
    shutil.copy(face_landmarker_path(), tmp / "face_landmarker.task")
    clip = tmp / "talk.y4m"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(ROOT / "examples/driving/synthetic_talk.mp4"),
                    "-vf", "scale=320:-2", "-pix_fmt", "yuv420p", "-r", "15", str(clip)], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    out = {}
    flags = ["--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
             "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-video-capture={clip}"]
    try:
        with pw.sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
            ctx = b.new_context(viewport={"width": 1100, "height": 800}, permissions=["camera"])
            # sliders at rest (the mouth's interior passes skipped), the mouth open (jawOpen 0.6
            # and a smile: every pass drawn), and the fake webcam
            for size, mode in ((384, ""), (384, "open"), (512, ""), (512, "open"), (384, "webcam")):
                webcam = mode == "webcam"
                page = ctx.new_page()
                url = (f"http://127.0.0.1:{port}/web/player.html?glb=/a.glb&model=/face_landmarker.task&size={size}"
                       + ("&webcam=1" if webcam else ""))
                page.goto(url)
                cond = "window.playerStats && window.playerStats.loaded" + (
                    " && window.playerStats.tracked > 5" if webcam else "")
                page.wait_for_function(cond, timeout=180_000)
                if mode == "open":
                    page.evaluate("""() => { for (const [id, v] of [["s_jawOpen", 0.6], ["s_smile", 0.5]]) {
                        const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event("input")); } }""")
                time.sleep(2.0)
                f0 = page.evaluate("[window.playerStats.frames, window.playerStats.tracked, performance.now()]")
                time.sleep(seconds)
                f1 = page.evaluate("[window.playerStats.frames, window.playerStats.tracked, performance.now()]")
                dt = (f1[2] - f0[2]) / 1000
                key = f"{size}{'_' + mode if mode else ''}"
                out[key] = {"render_fps": round((f1[0] - f0[0]) / dt, 1), "track_fps": round((f1[1] - f0[1]) / dt, 1),
                            "mouth_drawn": page.evaluate("!!window.playerStats.mouthDrawn"),
                            "error": page.evaluate("window.playerStats.error")}
                print("browser", key, out[key], flush=True)
                page.close()
            b.close()
    finally:
        server.terminate()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--photo", action="store_true", help="also the astronaut's personal model (quick)")
    ap.add_argument("--browser", action="store_true", help="also the player's frame rate in Chromium")
    ap.add_argument("--browser_only", action="store_true",
                    help="only the player's frame rate (seed 0's player avatar), merged into --out")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/realtime.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    a = ap.parse_args(argv)
    from PIL import Image

    from aniportrait_hub import DEFAULT_MODEL, AniPortraitGAN
    from aniportrait_hub.export import AvatarConfig, build_avatar
    from aniportrait_hub.export.gltf import read_glb, write_glb
    from aniportrait_hub.export.raster import AvatarRaster

    pipe = AniPortraitGAN.from_pretrained(DEFAULT_MODEL)
    names = list(pipe.face_model().exp_names)
    tmp = Path(tempfile.mkdtemp())
    if a.browser_only:
        cache = pipe.bake_identity(pipe.sample_latents(1, seed=0), 0.7)
        glb = write_glb(build_avatar(pipe, cache, AvatarConfig(texture=512, stride=3)), tmp / "seed0_3.glb")
        report = json.loads(a.out.read_text()) if a.out.exists() else {}
        report["browser"] = browser(glb)
        a.out.write_text(json.dumps(report, indent=1) + "\n")
        return 0
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "cores": os.cpu_count()}, "export": {}, "fidelity": {}}
    people = [(f"seed {s}", pipe.sample_latents(1, seed=s), 0.7) for s in range(a.seeds)]
    if a.photo:
        from skimage import data

        from aniportrait_hub.inversion import photo_to_model

        _, person = photo_to_model(pipe, data.astronaut(), "quick")
        people.append(("astronaut (personal model)", person.latents, 1.0))
    rows, speed_done, player_glb = [], False, None
    for name, lat, psi in people:
        cache = pipe.bake_identity(lat, psi)
        ex = {}
        for stride in (2, 3):
            t = time.perf_counter()
            av = build_avatar(pipe, cache, AvatarConfig(texture=512, stride=stride))
            path = write_glb(av, tmp / f"{name.replace(' ', '_')}_{stride}.glb")
            ex[f"stride{stride}"] = {"seconds": round(time.perf_counter() - t, 2), "triangles": av.triangles,
                                     "megabytes": round(path.stat().st_size / 1e6, 2)}
            if stride == 3 and player_glb is None:
                player_glb = path
        report["export"][name] = ex
        raster = AvatarRaster(read_glb(tmp / f"{name.replace(' ', '_')}_2.glb"))
        keep = [] if len(rows) < 2 or name.startswith("astronaut") else None
        report["fidelity"][name] = fidelity(pipe, cache, raster, names, keep=keep)
        if keep:
            rows.append(np.concatenate(keep, 1))
        if not speed_done:
            report["speed"] = speed(pipe, cache, raster)
            speed_done = True
        raster.release()
        print(name, json.dumps(ex), json.dumps(report["fidelity"][name]), flush=True)
    fid = [v for v in report["fidelity"].values()]
    report["fidelity_mean"] = {c: round(float(np.mean([f[c] for f in fid])), 2) for c in fid[0]}
    report["fidelity_min"] = {c: round(float(np.min([f[c] for f in fid])), 2) for c in fid[0]}
    if a.browser:
        report["browser"] = browser(player_glb)
    Image.fromarray((np.concatenate(rows, 0).clip(0, 1) * 255).astype(np.uint8)).save(a.docs / "avatar_raster.png")
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
