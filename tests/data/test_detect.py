"""Photo loading and detection on real photos shipped with scikit-image; bad inputs."""

import numpy as np
import pytest
from PIL import Image

from aniportrait_hub.data.detect import PhotoDetector, SkipImage, load_photo

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def detector():
    with PhotoDetector() as d:
        yield d


def test_astronaut_is_one_head_and_shoulder_person(tmp_path, detector):
    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    before = path.read_bytes()
    img = load_photo(path)
    det = detector.detect(img)
    assert path.read_bytes() == before  # inputs are only read
    x0, y0, x1, y1 = det.face_box
    nose = det.face[1]
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1  # the face mesh sits in the detected face
    assert det.pose[11, 1] > y1 and det.pose[12, 1] > y1  # shoulders below the face
    assert det.pose[11, 0] > det.pose[12, 0]  # pose "left" shoulder is the subject's left (image right)
    assert 0.2 < (det.mask > 0.5).mean() < 0.9 and det.mask[int(nose[1]), int(nose[0])] > 0.5


def test_grayscale_and_palette_photos_are_converted(tmp_path, detector):
    gray = tmp_path / "gray.png"
    Image.fromarray(skimage_data.astronaut()).convert("L").save(gray)
    img = load_photo(gray)
    assert img.shape == (512, 512, 3)
    detector.detect(img)  # still one person


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"this is text, not a picture", "not a readable image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR broken", "not a readable image|corrupt image"),
    ],
)
def test_unreadable_files_are_skipped_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(SkipImage, match=reason):
        load_photo(path)


def test_tiny_huge_empty_and_crowded_photos(tmp_path, detector):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (60, 60)).save(tiny)
    with pytest.raises(SkipImage, match="too small"):
        load_photo(tiny)
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(big)
    with pytest.raises(SkipImage, match="too large"):
        load_photo(big, max_pixels=4_000_000)
    with pytest.raises(SkipImage, match="no face found"):
        detector.detect(np.full((300, 300, 3), 200, np.uint8))
    two = np.concatenate([skimage_data.astronaut(), skimage_data.astronaut()], axis=1)
    with pytest.raises(SkipImage, match="2 faces found"):
        detector.detect(two)
