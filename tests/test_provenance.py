"""Every output is marked as generated: the watermark survives JPEG and resizing, PNGs and mp4s
carry the metadata, the app's pictures are marked, and the detector tells marked from unmarked
files (exit status included)."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from aniportrait_hub.commands.detect import main
from aniportrait_hub.provenance import detect, has_mark, mark_image, save_png
from aniportrait_hub.video import write_video


@pytest.fixture(scope="module")
def app_studio(default_pipe, tmp_path_factory):
    """The app's engine at its own sizes (256^2 pictures: the watermark's working size)."""
    from aniportrait_hub.studio import Studio, StudioConfig

    return Studio(StudioConfig(out_dir=tmp_path_factory.mktemp("studio")), pipe=default_pipe)


@pytest.fixture(scope="module")
def render(app_studio):
    return app_studio.generate(seed=4)[0]  # 256^2, on white


def _jpeg_half(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=75)
    small = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(small.resize((img.shape[1] // 2, img.shape[0] // 2), Image.BILINEAR))


def test_the_watermark_survives_jpeg_and_a_half_size_copy(render):
    marked = mark_image(render)
    assert has_mark(marked) and not has_mark(render)
    assert has_mark(_jpeg_half(marked))  # 128^2: the detector reads it back at 256^2
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - render) ** 2))
    assert psnr > 30, psnr  # measured 35 dB (most of it the headroom: white becomes 250)
    tiny = np.zeros((64, 64, 3), np.uint8)
    assert mark_image(tiny) is tiny  # too small to carry it: left as is


def test_pngs_and_videos_say_they_are_generated_and_the_detector_reports_it(render, tmp_path, capsys):
    png = save_png(render, tmp_path / "a.png", seed=4)
    r = detect(png)
    assert r["watermark"] and r["metadata"]["ai_generated"] == "true" and json.loads(r["metadata"]["aniportrait"]) == {"seed": 4}
    claim = {"generator": "aniportrait_hub", "signed_by": "aniportrait_hub signer", "signature_valid": True,
             "certificate_trusted": False,
             "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}
    assert r["c2pa"] == claim
    plain = tmp_path / "plain.png"
    Image.fromarray(render).save(plain)
    assert detect(plain) == {"file": str(plain), "kind": "image", "watermark": False, "metadata": None, "c2pa": None}
    mp4 = write_video(tmp_path / "v.mp4", [render] * 6, 12.5, info={"seed": 4})
    v = detect(mp4)
    assert v["kind"] == "video" and v["watermark"] and v["marked_frames"] == "6/6"
    assert v["metadata"]["ai_generated"] == "true" and v["c2pa"] == claim
    tampered = tmp_path / "tampered.png"
    data = bytearray(png.read_bytes())
    data[-200] ^= 0xFF  # a byte of the picture changed after signing
    tampered.write_bytes(bytes(data))
    t = detect(tampered)["c2pa"]  # the byte may land in the compressed pixels: reported, never a crash
    assert t is None or not t["signature_valid"]
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.read_bytes()[:-300])  # the pixel data cut short
    r = detect(cut)
    assert "cannot be decoded" in r["damaged"] and not r["watermark"]
    assert r["c2pa"] is None or not r["c2pa"]["signature_valid"]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    assert main([str(png), str(mp4)]) == 0 and main([str(plain)]) == 1 and main([str(bad)]) == 2
    out = capsys.readouterr().out
    assert "watermark FOUND" in out and "watermark not found" in out
    assert main([str(cut)]) == 2 and "cut.png: its picture data cannot be decoded" in capsys.readouterr().err


def test_the_apps_pictures_are_marked(app_studio):
    path = app_studio.save_png(app_studio.generate(seed=2)[0], "x", seed=2)
    assert detect(path)["watermark"]
