"""The teacher recipe: every phase runs (2 steps each on a tiny config), resumes, exports a
pipeline that loads and renders, and installs like the embedded default model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aniportrait_hub.pipelines.loading import load_default

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--preset", "small", "--identities", "3", "--high_res", "256", "--supersample", "2",
        "--manifold_steps", "2", "--manifold_points", "512", "--radiance_steps", "2", "--radiance_points", "256",
        "--radiance_batch", "2", "--expression_steps", "2", "--expression_batch", "2",
        "--expression_vertices", "64", "--expression_bank", "4", "--superres_steps", "2", "--superres_batch", "1", "--superres_crop", "8",
        "--priors_rows", "16", "--preview_every", "0", "--log_every", "1"]


def _teach(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.teacher", "--out", str(out), *TINY, *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "run"
    r = _teach(out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_every_phase_runs_and_reports(run):
    state = json.loads((run / "state.json").read_text())
    assert state["done"] == ["data", "manifold", "radiance", "face", "expression", "superres", "export"]
    assert state["report"]["data"]["identities"] == 3
    assert state["report"]["radiance"]["steps"] == 2 and state["report"]["superres"]["steps"] == 2
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert {r["phase"] for r in rows} == {"manifold", "radiance", "face", "expression", "superres"}
    assert all(all(v == v for v in r.values() if isinstance(v, float)) for r in rows)  # no NaN


def test_exported_pipeline_renders_with_appearance_codes(run):
    from aniportrait_hub import AniPortraitGAN

    pipe = AniPortraitGAN.from_pretrained(run / "pipeline")
    assert pipe.priors.config.noise_dim == 15  # eps is the appearance code
    assert pipe.priors.config.source.startswith("synthetic label distribution")
    out = pipe(seed=0, resolution=64, face_resolution=0, output_type="np")
    assert out.images.shape == (1, 64, 64, 3) and torch.isfinite(torch.as_tensor(out.images)).all()


def test_rerun_resumes_and_changes_nothing(run):
    before = (run / "state.json").read_text()
    weights = (run / "pipeline" / "radiance" / "diffusion_pytorch_model.safetensors").read_bytes()
    r = _teach(run)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run / "state.json").read_text() == before
    assert (run / "pipeline" / "radiance" / "diffusion_pytorch_model.safetensors").read_bytes() == weights


def test_install_and_clear_errors_for_a_missing_or_corrupt_model(run, tmp_path):
    sys.path.insert(0, str(ROOT))
    from train.default_card import install

    target = tmp_path / "default"
    install(run, target)
    pipe = load_default(target)
    assert pipe.render_settings.map_resolution == 64
    with pytest.raises(FileNotFoundError, match="missing.*rebuild"):
        load_default(tmp_path / "nowhere")
    w = target / "radiance" / "diffusion_pytorch_model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt or incomplete.*rebuild"):
        load_default(target)
    with pytest.raises(FileNotFoundError, match="no exported pipeline"):
        install(tmp_path / "empty_run", tmp_path / "other")


def test_bad_arguments_are_refused(tmp_path, capsys):
    """In this process (refused before any work: a subprocess would only add its imports)."""
    from train.teacher.run import main

    def teach(out, *extra):
        try:
            code = main(["--out", str(out), *TINY, *extra])
        except SystemExit as exit:  # argparse's refusals
            code = exit.code
        return code, capsys.readouterr().err

    code, err = teach(tmp_path / "x", "--phases", "data,paint")
    assert code != 0 and "unknown phases" in err
    code, err = teach(tmp_path / "y", "--identities", "1")
    assert code == 2 and "identities must be >= 2" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y" / "state.json").exists()


def test_feature_plane_is_aligned_then_trained(run):
    """A phi given a feature plane (the warm start of the shipped model) gets its per-identity
    warp fitted before the first step. With the body shape in phi's latent (the default preset)
    the eye and mouth centres of synthesizer people, spread by ~1 cm in the canonical space, land
    within a fraction of that on the plane; two radiance steps of a tiny run then move the plane
    off zero and report the bake's colour error."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from aniportrait_hub import AniPortraitGAN
    from train.teacher.config import TeacherConfig
    from train.teacher.radiance import fit_plane_warp, train_radiance

    cfg = TeacherConfig(out=run, radiance_steps=2, radiance_points=256, radiance_batch=2, preview_every=0)
    default = AniPortraitGAN.from_preset("default")
    assert default.radiance.plane is not None and not default.radiance.plane_warp.any()
    fit = fit_plane_warp(default, cfg, rows=512)
    assert fit["landmark_spread_mm"] > 5 and fit["landmark_spread_warped_mm"] < 0.2 * fit["landmark_spread_mm"]

    pipe = AniPortraitGAN.from_pretrained(run / "stage")  # small: no betas in phi's latent
    st = pipe.render_settings
    plane_range = (*st.map_x_range, *st.map_y_range)
    pipe.register_modules(radiance=pipe.radiance.with_plane(st.map_resolution, 4, plane_range))
    pipe.reset_runtime()
    data = dict(np.load(run / "data.npz"))
    rep = train_radiance(pipe, data, cfg, lambda row: None)
    assert rep["steps"] == 2 and rep["landmark_spread_warped_mm"] < rep["landmark_spread_mm"]
    assert pipe.radiance.plane.abs().max() > 0 and pipe.radiance.plane_warp.any()
    assert 0 < rep["bake_rgb_l1"] < 1 and 0 < rep["bake_rgb_l1_face"] < 1


def test_expression_phase_with_offset_sampling_and_a_narrow_smoothness(run):
    """D^e's phase with its vertices drawn by offset size and Eq. 12 over 2 mm neighbours runs
    and moves D^e (the shipped D^e's settings, the defaults now)."""
    sys.path.insert(0, str(ROOT))
    from aniportrait_hub import AniPortraitGAN
    from train.teacher.config import TeacherConfig
    from train.teacher.expression import train_expression

    pipe = AniPortraitGAN.from_pretrained(run / "stage")
    before = [p.detach().clone() for p in pipe.expression_deformer.parameters()]
    cfg = TeacherConfig(out=run, expression_steps=2, expression_bank=4, expression_batch=2, expression_vertices=64,
                        expression_offset_sampling=1.0, expression_smooth_sigma=0.002)
    rep = train_expression(pipe, cfg, lambda row: None)
    assert rep["steps"] == 2 and rep["offset_rms_mm"] > 0 and rep["imitation_rms_mm"] == rep["imitation_rms_mm"]
    assert any(not torch.equal(a, b) for a, b in zip(before, pipe.expression_deformer.parameters()))


def test_renewed_expression_deformer_takes_the_presets_architecture(run):
    """``renew_expression_deformer``: an older stage's D^e replaced by a new one of the preset's
    architecture (here the small preset's), which then trains."""
    sys.path.insert(0, str(ROOT))
    from aniportrait_hub import AniPortraitGAN
    from train.teacher.config import TeacherConfig
    from train.teacher.expression import renewed_expression, train_expression

    pipe = AniPortraitGAN.from_pretrained(run / "stage")
    cfg = TeacherConfig(out=run, preset="small", renew_expression_deformer=True, expression_steps=2,
                        expression_bank=4, expression_batch=2, expression_vertices=64)
    old = pipe.expression_deformer
    pipe = renewed_expression(pipe, cfg)
    assert pipe.expression_deformer is not old and pipe.expression_deformer.config.hidden == 64
    assert train_expression(pipe, cfg, lambda row: None)["steps"] == 2
    assert renewed_expression(pipe, TeacherConfig(out=run)).expression_deformer is pipe.expression_deformer


def test_gap_targets_send_an_opened_mouth_to_the_closed_lip_seam(run):
    """The seams an expression opens are the lips (pairs that touch in the neutral face and part
    under jawOpen), and a gap point's target is the closed seam: x + offset lands midway between
    the pair's neutral positions, whatever its depth jitter; closed pairs carry no weight."""
    sys.path.insert(0, str(ROOT))
    from aniportrait_hub import AniPortraitGAN
    from aniportrait_hub.deformation.expression_deformer import imitation_targets
    from aniportrait_hub.deformation.expression_deformer import seam_pairs
    from train.teacher.expression import gap_targets

    pipe = AniPortraitGAN.from_pretrained(run / "stage")
    body, fm = pipe.renderer().body, pipe.face_model()
    pairs = seam_pairs(body, fm)
    assert 50 < len(pairs) < 2000
    lm = dict(zip(fm.landmark_names, fm.landmark_ids.tolist()))
    fid, betas = torch.zeros(2, fm.num_identity), torch.zeros(2, 10)
    exp = torch.zeros(2, fm.num_expression)
    exp[0, fm.exp_names.index("jawOpen")] = 1.0  # row 1: neutral, nothing opens
    x_p, t = imitation_targets(body, fm, fid, betas, exp, fm.body_vertex_ids)
    x_n = x_p + t
    seam_y = x_n[0, pairs.flatten(), 1]
    lips_y = x_n[0, [lm["upper_lip"], lm["lower_lip"]], 1]
    assert lips_y.min() - 0.01 < seam_y.min() and seam_y.max() < lips_y.max() + 0.01  # at the mouth
    x, off, w = gap_targets(x_p, t, pairs, 64, 0.003, torch.Generator().manual_seed(0))
    assert w[0].mean() > 0.9 and w[1].sum() == 0
    target = x[0] + off[0]
    mid = (x_n[0, pairs[:, 0]] + x_n[0, pairs[:, 1]]) / 2
    # every target is a closed-seam midpoint, shifted only along z (the depth jitter)
    d = torch.cdist(target[:, :2], mid[:, :2]).amin(1)
    assert d.max() < 1e-4  # float32 rounding of (x + offset)
    assert (off[0].norm(dim=-1) > 0.002).float().mean() > 0.5  # the opening is far from its seam


def test_guided_expression_phase_reports_the_face_model_guide(run):
    """The default preset's D^e is the face model's own warp (no residual): renewing a stage's
    D^e with it also moves D^e to the ray samples (held behind the face), and the phase has nothing to train; it
    reports how the guide imitates Eq. 10 between the vertices."""
    sys.path.insert(0, str(ROOT))
    from aniportrait_hub import AniPortraitGAN
    from train.teacher.config import TeacherConfig
    from train.teacher.expression import renewed_expression, train_expression

    pipe = AniPortraitGAN.from_pretrained(run / "stage")
    assert not pipe.render_settings.expression_at_samples
    cfg = TeacherConfig(out=run, preset="default", renew_expression_deformer=True, expression_bank=8,
                        expression_batch=4, expression_vertices=256)
    pipe = renewed_expression(pipe, cfg)
    assert pipe.expression_deformer.config.guide == "face_model" and pipe.render_settings.expression_at_samples
    assert pipe.render_settings.expression_hold
    rep = train_expression(pipe, cfg, lambda row: None)
    assert rep["steps"] == 0 and rep["explained_share"] > 0.7, rep
