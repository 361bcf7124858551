"""The app's latency through its API, its live rate, and eight clients at once.

    python benchmarks/app_latency.py [--out benchmarks/results/app_latency.json] [--port 7870]

Starts ``python app.py`` (the embedded default model, 256^2 previews) as a separate process and
measures with ``gradio_client``:

- a slider move: ``/control`` for a person already baked, head yaw changed each call (what a
  slider drag costs end to end: queue, render, PNG, download); and the first call for a new
  person (the bake);
- eight concurrent clients, each generating three new people (``/generate``): all served?
  errors? seconds per request, and the server's peak resident memory (``VmHWM``);
- the live rate: :class:`aniportrait_hub.studio.LiveSession` fed the shipped clip's frames
  in-process, split into tracking and rendering (what limits it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import save_results  # noqa: E402


def _status_mb(pid: int, field: str) -> float:
    """A memory field of a process, MB (Linux ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process, MB (``VmHWM``)."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, MB (``VmRSS``)."""
    return _status_mb(pid, "VmRSS")


def start_app(port: int) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    end = time.time() + 180
    while time.time() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("the app did not start")


def stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "median_s": round(statistics.median(xs), 3), "p90_s": round(xs[int(0.9 * (len(xs) - 1))], 3),
            "max_s": round(xs[-1], 3)}


def slider(url: str, moves: int = 30) -> dict:
    from gradio_client import Client

    c = Client(url, verbose=False)
    t = time.perf_counter()
    c.predict(seed=11, api_name="/control")
    first = time.perf_counter() - t
    times = []
    for k in range(moves):
        t = time.perf_counter()
        c.predict(seed=11, head_yaw=float(-30 + 2 * k), expression={"jawOpen": (k % 5) / 5}, api_name="/control")
        times.append(time.perf_counter() - t)
    return {"first_call_new_person_s": round(first, 3), "slider_move": stats(times)}


def concurrent(url: str, pid: int, clients: int = 8, each: int = 3) -> dict:
    from gradio_client import Client

    times, errors = [], []
    lock = threading.Lock()

    def work(i: int) -> None:
        c = Client(url, verbose=False)
        for k in range(each):
            t = time.perf_counter()
            try:
                img, _ = c.predict(seed=1000 + i * each + k, api_name="/generate")
                ok = Path(img).is_file()
            except Exception as err:  # counted and reported: the benchmark's question is whether any fail
                ok = False
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
            with lock:
                if ok:
                    times.append(time.perf_counter() - t)

    before = rss_mb(pid)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"clients": clients, "requests": clients * each, "served": len(times), "errors": errors[:5],
            "wall_s": round(time.perf_counter() - t0, 2), "per_request": stats(times) if times else None,
            "server_rss_before_mb": round(before, 1), "server_rss_after_mb": round(rss_mb(pid), 1)}


def live(frames: int = 60) -> dict:
    import imageio.v3 as iio
    import torch

    from aniportrait_hub.studio import LiveSession, Studio, StudioConfig

    studio = Studio(StudioConfig())
    clip = iio.imread(ROOT / "examples" / "driving" / "synthetic_talk.mp4")
    session = LiveSession(studio)
    track, render = [], []
    cache = studio.identity("seed", 0, 0.7)
    try:
        for i in range(frames):
            frame = clip[i % len(clip)]
            t = time.perf_counter()
            reading = session.tracker.step(frame, 80 * (i + 1))
            t1 = time.perf_counter()
            if reading is not None:
                studio.frame(cache, reading.expression, reading.joint_eulers, reading.camera,
                             studio.cfg.preview_resolution)
            t2 = time.perf_counter()
            if i >= 5:  # the first frames include the cold fit
                track.append(t1 - t)
                render.append(t2 - t1)
    finally:
        session.close()
    per = np.array(track) + np.array(render)
    return {"frames": len(per), "side": studio.cfg.preview_resolution, "fps": round(1 / float(per.mean()), 2),
            "tracking_s": round(float(np.mean(track)), 4), "rendering_s": round(float(np.mean(render)), 4),
            "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/app_latency.json")
    ap.add_argument("--port", type=int, default=7870)
    a = ap.parse_args(argv)
    proc = start_app(a.port)
    url = f"http://127.0.0.1:{a.port}/"
    try:
        report = {"what": "the app through gradio_client on 127.0.0.1 (default model, 256^2 previews)",
                  "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}}
        report.update(slider(url))
        report["concurrent"] = concurrent(url, proc.pid)
        report["server_peak_rss_mb"] = round(peak_rss_mb(proc.pid), 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report["live_in_process"] = live()
    print(json.dumps(report, indent=1))
    save_results(a.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
