"""The synthetic builder: a valid dataset, deterministic per seed, faces that mediapipe finds."""

import numpy as np
import pytest

from aniportrait_hub.commands.synthesize import main
from aniportrait_hub.data import open_dataset
from aniportrait_hub.data.synthesize import SynthConfig, SyntheticRenderer, build


def test_builds_a_valid_dataset_with_contact_sheet(tmp_path):
    out = tmp_path / "syn"
    build(SynthConfig(out=out, n=10, res=64, workers=1))
    ds = open_dataset(out)
    assert len(ds) == 10 and [r.name for r in ds.split("heldout")] == ["syn000009"]
    assert (out / "contact_sheet.png").is_file() and (out / "depth" / "syn000000.npy").is_file()
    rgba = ds.load_rgba(ds.records[0])
    assert rgba.shape == (64, 64, 4) and 0.1 < (rgba[..., 3] > 0).mean() < 0.95  # a figure, background removed
    arr = ds.arrays()
    assert np.abs(arr["joint_eulers"]).max() < 0.7 and np.abs(arr["camera"] - np.pi / 2).max() < 0.45
    assert (arr["expression"] >= 0).all() and (arr["expression"].sum(1) == 0).any()  # some neutral faces
    assert main(["--out", str(out), "--n", "1", "--res", "64", "--workers", "1"]) == 2  # never overwrites


def test_samples_are_deterministic_per_seed_and_index():
    r = SyntheticRenderer(SynthConfig(res=48, seed=3))
    a, b = r.render(5), r.render(5)
    assert a[0] == b[0] and np.array_equal(a[1]["rgba"], b[1]["rgba"])
    assert not np.array_equal(r.render(6)[1]["rgba"], a[1]["rgba"])


def test_mediapipe_finds_the_faces():
    mp = pytest.importorskip("mediapipe")
    r = SyntheticRenderer(SynthConfig(res=256, seed=1))
    found = 0
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as fm:
        for i in range(6):
            _, img = r.render(i)
            a = img["rgba"][..., 3:].astype(np.float32) / 255
            rgb = (img["rgba"][..., :3] * a + 255 * (1 - a)).astype(np.uint8)
            found += fm.process(rgb).multi_face_landmarks is not None
            found += fm.process(np.ascontiguousarray(img["face"])).multi_face_landmarks is not None
    assert found == 12


def test_hits_are_returned_on_request():
    r = SyntheticRenderer(SynthConfig(res=48, seed=2))
    _, img = r.render(0, return_hits=True)
    assert np.array_equal(img["hits"].mask, img["rgba"][..., 3] > 0)
    assert img["faces"].shape[0] >= len(r.faces)  # body triangles first, then hair
