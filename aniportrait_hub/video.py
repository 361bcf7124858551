"""Reading driving videos, and writing videos people can play: H.264 in yuv420p (what browsers
and phones decode), with the driver's audio when there is one.

Reading (:func:`read_video`) goes through imageio-ffmpeg's frame reader: ffmpeg decodes, holds a
constant frame rate (a variable-rate phone clip is sampled at its mean rate), stops at
``max_seconds`` and scales frames down to ``max_side``, so a long 4K clip never reaches Python
at full size. A file that is not a video (empty, truncated, a still image or text renamed
``.mp4``) is refused with :class:`VideoReadError` naming what is wrong.

imageio's ffmpeg writer does the encoding. The audio goes in by a second pass with the ffmpeg
that imageio-ffmpeg bundles: the video stream is copied and the driver's first audio stream, if
it has one (the ``?`` in ``-map 1:a:0?``), is encoded to AAC, cut to the video's duration
(``-t``: ``-shortest`` with a copied video stream dropped the last ~0.3 s of frames).
``write_frames(audio_path=...)`` would do it in one pass, but it fails with a broken pipe when
the driver has no audio. Files are written under a temporary name and moved into place at the
end, so a failed or interrupted write never leaves a half file, and an existing file is never
overwritten unless asked.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _stream_info(path: str | Path) -> str:
    """ffmpeg's description of the streams of the media file at ``path`` (its stderr)."""
    return subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def has_audio(path: str | Path) -> bool:
    """Whether the media file at ``path`` holds an audio stream."""
    return "Audio:" in _stream_info(path)


def _variable_rate(streams: str) -> float | None:
    """The frame rate a variable-rate video stream runs at when it runs fast (ffmpeg's "tbr"),
    where it differs from its mean ("fps"); None for a constant rate or where unreadable."""
    m = re.search(r"Video:.*?([0-9.]+) fps, ([0-9.]+) tbr", streams)
    if m is None:
        return None
    fps, tbr = float(m.group(1)), float(m.group(2))
    return tbr if fps > 0 and abs(tbr - fps) > 0.01 * fps else None


def depth_image(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A depth map [H, W] as a picture: uint8, near = bright, background black (the frame's own
    depth range, over the pixels the mask covers)."""
    fg = mask > 0.5 * mask.max() if mask.max() > 0 else mask > 0
    out = np.zeros(depth.shape, np.uint8)
    if fg.any():
        lo, hi = depth[fg].min(), depth[fg].max()
        out[fg] = (255 * (1 - (depth[fg] - lo) / max(hi - lo, 1e-6))).clip(0, 255).astype(np.uint8)
    return out


class VideoReadError(ValueError):
    """A file that cannot be read as a video: the message is one sentence naming the file and the
    cause; ``detail`` keeps the end of ffmpeg's own log, for whoever wants it."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


_CUT_SHORT = "it is cut short or was never finished (the mp4's index is missing)"
_NOT_A_VIDEO = "its contents are not in a video format ffmpeg knows"
#: Lines of ffmpeg's log -> the cause said to the user (the first that matches; ffmpeg's own log,
#: banner and library versions included, is never shown).
FFMPEG_CAUSES = (
    ("moov atom not found", _CUT_SHORT),
    ("partial file", "it is cut short"),
    ("Invalid data found when processing input", _NOT_A_VIDEO),
    ("does not contain any stream", "it holds no video stream"),
    ("Permission denied", "it cannot be read (permission denied)"),
)


def ffmpeg_cause(log: str, path: str | Path | None = None) -> str:
    """The cause of a decoding failure, in words, from ffmpeg's log (:data:`FFMPEG_CAUSES`). With
    ``path``, a file ffmpeg read as an mp4 without finding its index is told apart: one that starts
    like an mp4 (an ``ftyp`` box) is cut short, anything else (text renamed .mp4) is no video."""
    low = log.lower()
    cause = next((c for needle, c in FFMPEG_CAUSES if needle.lower() in low), "ffmpeg cannot decode it")
    if cause == _CUT_SHORT and path is not None:
        with open(path, "rb") as fh:
            if b"ftyp" not in fh.read(16):
                return _NOT_A_VIDEO
    return cause


@dataclasses.dataclass
class VideoInfo:
    """What :func:`read_video` reads: the source's and the delivered frames'."""

    fps: float
    """Frames per second delivered (the source's nominal rate, held constant)."""
    source_size: tuple[int, int]
    """Source width, height."""
    size: tuple[int, int]
    """Delivered width, height (scaled down to ``max_side``)."""
    duration: float
    """Source duration in seconds (0 where ffmpeg does not know it)."""
    seconds: float
    """Seconds delivered (``max_seconds`` where the source is longer)."""
    has_audio: bool
    """The source holds an audio stream."""
    messages: list[str] = dataclasses.field(default_factory=list)
    """What was changed on the way (scaled down, cut), for the user."""


def read_video(path: str | Path, *, max_seconds: float | None = None,
               max_side: int | None = None) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """Open a video: its :class:`VideoInfo` and an iterator of RGB frames [H, W, 3] uint8.

    Args:
        max_seconds: deliver at most this much (a message says the clip was cut).
        max_side: scale frames down so that neither side exceeds it (a message says so).
    Raises:
        FileNotFoundError; :class:`VideoReadError` for an empty file, a file ffmpeg cannot
        decode (truncated, not a video), a still image or a clip of fewer than 2 frames.
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path} is empty (0 bytes)")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    probe = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(probe)
    except (OSError, RuntimeError, StopIteration) as e:
        raise VideoReadError(f"{path} is not a video ffmpeg can decode: {ffmpeg_cause(str(e), path)}",
                             str(e).strip()[-2000:]) from e
    finally:
        probe.close()
    fps = float(meta.get("fps") or 0)
    codec = str(meta.get("codec", "")).rstrip(",")
    still = codec in STILL_IMAGE_CODECS or (codec == "mjpeg" and not meta.get("duration"))
    if still or not math.isfinite(fps) or fps <= 0:
        raise VideoReadError(f"{path} holds a still image ({codec or 'no frame rate'}), not a video")
    src_w, src_h = meta["source_size"]
    duration = float(meta.get("duration") or 0.0)
    messages: list[str] = []
    # A constant rate at the source's mean rate: a variable-rate clip (phones) is sampled at
    # even times, each frame the one shown then (without -r, ffmpeg's cfr picks the stream's
    # time-base guess, e.g. 35 frames at 25 fps for a 0.84 s clip it reports as 5.95 fps).
    out = ["-fps_mode", "cfr", "-r", f"{fps:.6g}"]
    seconds = duration
    if max_seconds is not None and (duration == 0 or duration > max_seconds):
        out += ["-t", f"{max_seconds:.3f}"]
        seconds = max_seconds if duration == 0 else min(duration, max_seconds)
        if duration > max_seconds:
            messages.append(f"{path.name} lasts {duration:.1f} s; only its first {max_seconds:g} s are used")
    w, h = src_w, src_h
    if max_side is not None and max(src_w, src_h) > max_side:
        k = max_side / max(src_w, src_h)
        w, h = 2 * max(1, round(src_w * k / 2)), 2 * max(1, round(src_h * k / 2))
        out += ["-vf", f"scale={w}:{h}:flags=area"]
        messages.append(f"{path.name} is {src_w}x{src_h}; frames are scaled to {w}x{h}")
    streams = _stream_info(path)
    fast = _variable_rate(streams)
    if fast is not None:
        messages.append(f"{path.name} has a variable frame rate (mean {fps:g} fps, up to {fast:g}); "
                        f"frames are taken at an even {fps:g} fps")
    info = VideoInfo(fps, (src_w, src_h), (w, h), duration, seconds, "Audio:" in streams, messages)

    def frames() -> Iterator[np.ndarray]:
        # imageio-ffmpeg logs a warning whenever the frames are scaled: that is asked for here.
        logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)
        gen = imageio_ffmpeg.read_frames(str(path), output_params=out)
        try:
            m = next(gen)
            fw, fh = m["size"]
            n = 0
            for buf in gen:
                n += 1
                yield np.frombuffer(buf, np.uint8).reshape(fh, fw, 3)
        except (OSError, RuntimeError) as e:
            raise VideoReadError(f"{path} could not be decoded to the end: {ffmpeg_cause(str(e), path)}",
                                 str(e).strip()[-2000:]) from e
        finally:
            gen.close()
        if n < 2:
            raise VideoReadError(f"{path} holds {n} frame(s); a driving video needs at least 2")

    return info, frames()


#: Codecs of still images that ffmpeg also opens as a one-frame "video".
STILL_IMAGE_CODECS = ("png", "bmp", "tiff", "webp", "gif", "jpeg2000", "pam", "ppm", "pgm")


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, audio_from: str | Path | None = None,
                overwrite: bool = False, quality: int = 8, mark: bool = True, info: dict | None = None) -> Path:
    """Encode ``frames`` ([H, W, 3] uint8 each) to an H.264 yuv420p mp4 at ``path``.

    Args:
        audio_from: a media file whose first audio stream (if any) is added, cut to the video.
        overwrite: replace an existing ``path`` (default: refuse with FileExistsError).
        mark: watermark every frame, tag the file as generated and sign a C2PA manifest into it
            (:mod:`aniportrait_hub.provenance`;
            ``info``: what to say of it, e.g. the seed). False for videos that are not drawn by
            the model (a test clip of a real person, say).
    Returns:
        ``path``.
    """
    import imageio.v2 as imageio

    from aniportrait_hub.provenance import mark_image, sign_c2pa, video_comment

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
        params = ["-metadata", f"comment={video_comment(**(info or {}))}"] if mark else None
        with imageio.get_writer(video_tmp, fps=fps, codec="libx264", quality=quality, macro_block_size=16,
                                pixelformat="yuv420p", output_params=params) as w:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"frames must be [H, W, 3] uint8, got {frame.shape} {frame.dtype}")
                w.append_data(mark_image(frame) if mark else frame)
                n += 1
        if n == 0:
            raise ValueError("no frames to write")
        if audio_from is None:
            video_tmp.replace(out_tmp)
        else:
            r = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video_tmp),
                                "-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy",
                                "-c:a", "aac", "-t", f"{n / fps:.6f}", str(out_tmp)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"adding the audio of {audio_from} failed: {r.stderr.strip()[-500:]}")
        if mark:
            sign_c2pa(out_tmp, "video/mp4", path.name)
        if path.exists() and not overwrite:  # appeared while we were encoding
            raise FileExistsError(f"{path} exists; choose another name or pass overwrite")
        out_tmp.replace(path)
    finally:
        for p in (video_tmp, out_tmp):
            p.unlink(missing_ok=True)
    return path
