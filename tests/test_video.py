"""Videos are H.264 yuv420p mp4s with the driver's audio when it has one, written atomically,
never over an existing file."""

import subprocess

import imageio.v3 as iio
import numpy as np
import pytest

from aniportrait_hub.video import VideoReadError, _ffmpeg, has_audio, read_video, write_video


def _frames(n=12, size=64):
    return [np.full((size, size, 3), 20 * i % 255, np.uint8) for i in range(n)]


def _probe(path):
    return subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def test_video_without_and_with_audio(tmp_path):
    plain = write_video(tmp_path / "plain.mp4", _frames(), 12)
    info = _probe(plain)
    assert "h264" in info and "yuv420p" in info and not has_audio(plain)
    assert iio.imread(plain, index=None).shape[0] == 12
    # a driver with audio: 3 s of a tone beside 3 s of video
    driver = tmp_path / "driver.mp4"
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=12",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    "-c:a", "aac", str(driver)], check=True)
    assert has_audio(driver)
    voiced = write_video(tmp_path / "voiced.mp4", _frames(), 12, audio_from=driver)
    assert has_audio(voiced) and "aac" in _probe(voiced)
    assert iio.imread(voiced, index=None).shape[0] == 12
    # audio as long as the video: every frame is kept (-shortest dropped the last ~0.3 s)
    same = tmp_path / "same.mp4"
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=12",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    "-c:a", "aac", str(same)], check=True)
    both = write_video(tmp_path / "both.mp4", _frames(25), 12.5, audio_from=same)
    assert has_audio(both) and iio.imread(both, index=None).shape[0] == 25
    # a driver without audio (the case imageio-ffmpeg's one-pass audio_path breaks on)
    silent = write_video(tmp_path / "silent.mp4", _frames(), 12, audio_from=plain)
    assert not has_audio(silent) and iio.imread(silent, index=None).shape[0] == 12
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_existing_files_and_bad_input_are_refused(tmp_path):
    keep = tmp_path / "keep.mp4"
    keep.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        write_video(keep, _frames(), 12)
    assert keep.read_bytes() == b"precious"
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "bad.mp4", [np.zeros((64, 64, 3), np.float32)], 12)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], 12)
    with pytest.raises(ValueError, match=".mp4"):
        write_video(tmp_path / "x.avi", _frames(), 12)
    with pytest.raises(FileNotFoundError, match="audio source"):
        write_video(tmp_path / "a.mp4", _frames(), 12, audio_from=tmp_path / "missing.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]  # nothing half-written
    write_video(keep, _frames(), 12, overwrite=True)
    assert keep.read_bytes() != b"precious"


def test_read_video_cuts_scales_and_holds_a_constant_rate(tmp_path):
    src = tmp_path / "wide.mp4"  # 3 s at 12 fps, 320 x 96, with a tone
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x96:rate=12", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", str(src)], check=True)
    info, frames = read_video(src, max_seconds=1.5, max_side=160)
    frames = list(frames)
    assert info.fps == 12 and info.source_size == (320, 96) and info.size == (160, 48) and info.has_audio
    assert frames[0].shape == (48, 160, 3) and frames[0].dtype == np.uint8
    assert len(frames) == 18  # 1.5 s at 12 fps
    assert any("first 1.5 s" in m for m in info.messages) and any("scaled to 160x48" in m for m in info.messages)
    info, frames = read_video(src)
    assert info.messages == [] and len(list(frames)) == 36


def test_read_video_refuses_what_is_not_a_video(tmp_path):
    plain = write_video(tmp_path / "plain.mp4", _frames(), 12)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("not a video\n" * 50)
    image = tmp_path / "image.mp4"
    iio.imwrite(image, _frames(1, 64)[0], extension=".png")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    for path, why in ((empty, "empty"), (text, "not a video ffmpeg can decode: its contents are not in a video format"),
                      (image, "still image")):
        with pytest.raises(VideoReadError, match=why):
            read_video(path)
    with pytest.raises(VideoReadError, match="decode: it is cut short") as err:  # the moov atom at the end is gone
        info, frames = read_video(truncated)
        list(frames)
    # One sentence naming the file and the cause: ffmpeg's banner and log stay in ``detail``.
    for path in (text, truncated):
        with pytest.raises(VideoReadError) as err:
            list(read_video(path)[1])
        message = str(err.value)
        assert "\n" not in message and message.startswith(str(path)), message
        assert not any(w in message for w in ("lib", "moov", "ffmpeg version", "@ 0x")), message
        assert "moov atom not found" in err.value.detail
    with pytest.raises(FileNotFoundError):
        read_video(tmp_path / "missing.mp4")


def test_read_video_takes_a_variable_rate_clip_at_an_even_rate_in_time(tmp_path):
    """A phone-style clip that drops every 4th frame of 30 fps (mean 22.5 fps): frames come at
    the mean rate, as many as its duration holds (ffmpeg's own constant rate would have given
    30 fps worth, a third too long for the rate reported), with a message."""
    src = tmp_path / "vfr.mp4"
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=30",
                    "-t", "2", "-vf", r"select='not(eq(mod(n\,4)\,1))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(src)], check=True)
    info, frames = read_video(src)
    n = len(list(frames))
    assert info.fps == 22.5 and abs(n / info.fps - info.duration) <= 1.5 / info.fps, (n, info)
    assert any("variable frame rate (mean 22.5 fps, up to 30)" in m for m in info.messages), info.messages
