"""Writing videos people can play: H.264 in yuv420p (what browsers and phones decode), with the
driver's audio when there is one.

imageio's ffmpeg writer does the encoding. The audio goes in by a second pass with the ffmpeg
that imageio-ffmpeg bundles: the video stream is copied and the driver's first audio stream, if
it has one (the ``?`` in ``-map 1:a:0?``), is encoded to AAC, cut to the shorter of the two.
``write_frames(audio_path=...)`` would do it in one pass, but it fails with a broken pipe when
the driver has no audio. Files are written under a temporary name and moved into place at the
end, so a failed or interrupted write never leaves a half file, and an existing file is never
overwritten unless asked.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def has_audio(path: str | Path) -> bool:
    """Whether the media file at ``path`` holds an audio stream."""
    r = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return "Audio:" in r.stderr


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, audio_from: str | Path | None = None,
                overwrite: bool = False, quality: int = 8) -> Path:
    """Encode ``frames`` ([H, W, 3] uint8 each) to an H.264 yuv420p mp4 at ``path``.

    Args:
        audio_from: a media file whose first audio stream (if any) is added, cut to the video.
        overwrite: replace an existing ``path`` (default: refuse with FileExistsError).
    Returns:
        ``path``.
    """
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"{path}: videos are written as .mp4")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or pass overwrite")
    if not 0 < fps <= 240:
        raise ValueError(f"fps {fps} outside (0, 240]")
    if audio_from is not None and not Path(audio_from).is_file():
        raise FileNotFoundError(f"audio source not found: {audio_from}")
    path.parent.mkdir(parents=True, exist_ok=True)
    video_tmp = path.with_name(f".{path.stem}.{os.getpid()}.video.mp4")
    out_tmp = path.with_name(f".{path.stem}.{os.getpid()}.mp4")
    n = 0
    try:
        with imageio.get_writer(video_tmp, fps=fps, codec="libx264", quality=quality, macro_block_size=16,
                                pixelformat="yuv420p") as w:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"frames must be [H, W, 3] uint8, got {frame.shape} {frame.dtype}")
                w.append_data(frame)
                n += 1
        if n == 0:
            raise ValueError("no frames to write")
        if audio_from is None:
            video_tmp.replace(out_tmp)
        else:
            r = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video_tmp),
                                "-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy",
                                "-c:a", "aac", "-shortest", str(out_tmp)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"adding the audio of {audio_from} failed: {r.stderr.strip()[-500:]}")
        if path.exists() and not overwrite:  # appeared while we were encoding
            raise FileExistsError(f"{path} exists; choose another name or pass overwrite")
        out_tmp.replace(path)
    finally:
        for p in (video_tmp, out_tmp):
            p.unlink(missing_ok=True)
    return path
