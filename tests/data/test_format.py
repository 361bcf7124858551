"""Dataset format: write, read back, validation that names every problem, priors."""

import json
import math

import numpy as np
import pytest
import torch

from aniportrait_hub import AniPortraitGAN
from aniportrait_hub.data import DatasetError, DatasetInfo, DatasetWriter, Record, open_dataset, priors_from_dataset

INFO = DatasetInfo(expression_basis="arkit52", id_dim=80, exp_dim=52, resolution=32, source="test")


def _record(i, split="train"):
    rng = np.random.default_rng(i)
    return Record(name=f"s{i:03d}", camera=[math.pi / 2, math.pi / 2 + 0.1 * i], betas=rng.normal(size=10).tolist(),
                  joint_eulers=(rng.normal(size=(6, 3)) * 0.1).tolist(), face_id=rng.normal(size=80).tolist(),
                  expression=rng.random(52).tolist(), face_camera=[0, 0, 0, 0.9, math.pi / 2, math.pi / 2],
                  split=split, identity=f"id{i}")


def _write(root, n=4):
    w = DatasetWriter(root, INFO)
    for i in range(n):
        rgba = np.zeros((32, 32, 4), np.uint8)
        rgba[8:24, 8:24] = (200, 150, 120, 255)
        w.add(_record(i, "heldout" if i == n - 1 else "train"), rgba, face=np.full((16, 16, 3), 128, np.uint8),
              depth=np.ones((32, 32)))
    return w


def test_write_then_read_back(tmp_path):
    _write(tmp_path)
    ds = open_dataset(tmp_path)
    assert len(ds) == 4 and len(ds.split("train")) == 3 and len(ds.split("heldout")) == 1
    rec = ds.records[1]
    assert rec == _record(1)
    img = ds.load_rgba(rec)
    assert img.shape == (32, 32, 4) and img[16, 16, 3] == 255 and img[0, 0, 3] == 0
    arr = ds.arrays("train")
    assert arr["joint_eulers"].shape == (3, 6, 3) and arr["face_id"].shape == (3, 80)


def test_writer_never_overwrites_a_dataset(tmp_path):
    _write(tmp_path)
    before = (tmp_path / "labels.jsonl").read_text()
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        DatasetWriter(tmp_path, INFO)
    assert (tmp_path / "labels.jsonl").read_text() == before
    with pytest.raises(ValueError, match="'betas' has shape"):
        bad = _record(9)
        bad.betas = [0.0] * 9
        DatasetWriter(tmp_path, INFO, append=True).add(bad, np.zeros((32, 32, 4), np.uint8))


def test_validation_lists_every_problem_with_its_file(tmp_path):
    _write(tmp_path)
    (tmp_path / "images" / "s001.png").write_bytes(b"not a png")
    (tmp_path / "images" / "s002.png").unlink()
    with open(tmp_path / "labels.jsonl", "a") as fh:
        fh.write("{broken json\n")
        rec = json.loads(_record(7).to_json())
        rec["camera"] = [0.0, 1.0]
        fh.write(json.dumps(rec) + "\n")
        fh.write(_record(0).to_json() + "\n")  # duplicate
    with pytest.raises(DatasetError) as err:
        open_dataset(tmp_path)
    msg = str(err.value)
    assert "5 problem(s)" in msg
    assert "s001.png: not a readable image" in msg and "s002.png: missing" in msg
    assert "labels.jsonl:5: not JSON" in msg and "camera [0.0, 1.0] outside (0, pi)" in msg
    assert "duplicate name 's000'" in msg
    with pytest.raises(DatasetError, match="no dataset.json"):
        open_dataset(tmp_path / "images")


def test_priors_from_a_dataset_drive_the_pipeline(tmp_path):
    _write(tmp_path)
    priors = priors_from_dataset(open_dataset(tmp_path))
    assert priors.face_id.shape == (3, 80) and "test" in priors.config.source
    pose, cam = priors.sample_pose_camera(5, torch.Generator().manual_seed(0))
    rows = torch.from_numpy(open_dataset(tmp_path).arrays("train")["camera"])
    assert all(any(torch.allclose(c, r) for r in rows) for c in cam)  # whole rows are sampled
    pipe = AniPortraitGAN.from_preset("small", priors=priors,
                                      render_overrides=dict(map_resolution=32, samples_per_ray=16,
                                                            pose_grid=(16, 32, 32), field_grid=48,
                                                            geometry_resolution=32, bake_z_samples=24))
    out = pipe(seed=0, resolution=32, face_resolution=0, output_type="np")
    assert out.images.shape == (1, 32, 32, 3)
