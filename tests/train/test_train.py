"""The trainer on a tiny real config: smoke runs of both stages, frozen parameters in stage 2,
exact resume, 2-process CPU DDP == one process on the union batch, R1 against finite
differences, bad datasets and non-finite losses."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from aniportrait_hub.data.synthesize import SynthConfig, build
from aniportrait_hub.models.discriminator import PortraitDiscriminator
from train.losses import r1_penalty

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--resolution", "32", "--face_resolution", "32", "--data.batch_size", "2", "--num_samples", "2",
        "--model.d_channel_base", "512", "--model.d_channel_max", "32", "--model.d_mbstd_group", "2",
        "--model.render", json.dumps({"pose_grid": [8, 24, 24], "samples_per_ray": 16, "map_resolution": 32}),
        "--log_every", "1", "--sample_every", "2"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "syn"
    build(SynthConfig(out=out, n=8, res=64, workers=1))
    return out


def train(*args, env=None, launcher=None) -> subprocess.CompletedProcess:
    cmd = (launcher or [sys.executable]) + [str(ROOT / "train" / "train.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT, timeout=600)


def weights(run: Path, step: int, which: str = "model.safetensors") -> dict:
    return load_file(run / "checkpoints" / f"checkpoint-{step:07d}" / which)


@pytest.mark.slow  # two trainer runs end to end, then the exported pipeline and the logs
def test_stage1_then_stage2(dataset, tmp_path):
    s1 = tmp_path / "s1"
    r = train("--preset", "stage1", "--data.path", str(dataset), "--out", str(s1), "--steps", "2", *TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (s1 / "checkpoints" / "LATEST").read_text() == "checkpoint-0000002"
    assert (s1 / "samples" / "step-0000002.png").is_file() and (s1 / "samples" / "reals.png").is_file()
    # The EMA generator is a loadable pipeline that renders.
    from aniportrait_hub.pipelines import AniPortraitGAN

    pipe = AniPortraitGAN.from_pretrained(s1 / "pipeline")
    img = pipe(seed=0, resolution=32, face_resolution=0, output_type="pt").images
    assert img.shape == (1, 3, 32, 32) and torch.isfinite(img).all()
    assert pipe.priors.config.num_rows == 8  # priors from the dataset (8 train records)
    # Every loss term is logged to tensorboard.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = [p for p in (s1 / "logs").rglob("events.out.tfevents.*")]
    acc = EventAccumulator(str(logs[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("D/whole", "D/face", "D/torso", "R1/face_raw", "G/whole", "G/torso", "reg/imitation",
                "reg/pose_smoothness", "reg/expression_smoothness", "reg/minimal_deformation", "grad_norm/G",
                "grad_norm/D", "images_per_s"):
        assert tag in tags, tag
    # Stage 2 from it: U and the discriminators train, every other generator weight stays bit-identical.
    s2 = tmp_path / "s2"
    r = train("--preset", "stage2", "--data.path", str(dataset), "--model.init_from", str(s1 / "pipeline"),
              "--out", str(s2), "--steps", "2", "--resolution", "64", *TINY[2:])
    assert r.returncode == 0, r.stderr[-3000:]
    before = {f"{n}.{k}": v for n in ("manifold", "radiance", "pose_deformer", "expression_deformer", "superres")
              for k, v in load_file(s1 / "pipeline" / n / "diffusion_pytorch_model.safetensors").items()}
    after = weights(s2, 2)
    assert set(before) <= set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert len(changed) > 10 and all(k.startswith("superres.") for k in changed), sorted(changed)[:5]


@pytest.mark.slow  # five trainer runs
def test_resume_is_exact_and_refuses_to_overwrite(dataset, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--data.path", str(dataset), "--checkpoint_every", "2", *TINY]
    assert train("--out", str(a), "--steps", "4", *common).returncode == 0
    assert train("--out", str(b), "--steps", "2", *common).returncode == 0
    refused = train("--out", str(b), "--steps", "4", *common)
    assert refused.returncode == 2 and "--resume latest" in refused.stderr
    r = train("--out", str(b), "--steps", "4", "--resume", "latest", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    for which in ("model.safetensors", "model_1.safetensors"):
        wa, wb = weights(a, 4, which), weights(b, 4, which)
        worst = max((wa[k] - wb[k]).abs().max().item() for k in wa)
        assert worst <= 1e-6, (which, worst)  # 4 steps == 2 steps + resume + 2 steps
    # A non-finite loss stops the run naming step and term; the last good checkpoint stays.
    bad = train("--out", str(b), "--steps", "6", "--resume", "latest", *common, "--loss.w_face", "nan")
    assert bad.returncode == 2 and "step 4: loss term 'D/face'" in bad.stderr
    assert (b / "checkpoints" / "LATEST").read_text() == "checkpoint-0000004"


@pytest.mark.slow  # a 2-process accelerate launch and two more trainer runs
def test_two_process_ddp_equals_one_process_on_the_union_batch(dataset, tmp_path):
    """One step, Adam with eps = 1 and lr 1 (so the step is ~ the gradient itself), no clipping."""
    common = ["--data.path", str(dataset), "--steps", "1", *TINY, "--optim.eps", "1", "--optim.grad_clip", "0"]
    lr1 = ["--optim.lr_g", "1", "--optim.lr_d", "1"]
    ddp = train("--out", str(tmp_path / "ddp"), *common, *lr1,
                launcher=[sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--main_process_port", "29531", "--mixed_precision", "no",
                          "--dynamo_backend", "no"], env={"ACCELERATE_USE_CPU": "true"})
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    union = [*common[:common.index("--data.batch_size") + 1], "4", *common[common.index("--data.batch_size") + 2:]]
    assert train("--out", str(tmp_path / "one"), *union, *lr1).returncode == 0
    assert train("--out", str(tmp_path / "init"), *union, "--optim.lr_g", "0", "--optim.lr_d", "0").returncode == 0
    for which in ("model.safetensors", "model_1.safetensors"):  # generator, discriminators
        d, o, i = (weights(tmp_path / n, 1, which) for n in ("ddp", "one", "init"))
        update = max((o[k] - i[k]).abs().max().item() for k in o)
        diff = max((d[k] - o[k]).abs().max().item() for k in o)
        assert update > 1e-3 and diff < 1e-3 * update, (which, diff, update)


def test_r1_matches_finite_differences():
    torch.manual_seed(0)
    d = PortraitDiscriminator(resolution=16, channel_base=256, channel_max=16, mbstd_group=2).double()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    r1 = r1_penalty(d(x), x)
    # Directional derivatives of sum(D(x)) by central differences give the gradient the penalty squares.
    grad = torch.autograd.grad(d(x).sum(), x)[0]
    assert torch.allclose(r1, grad.pow(2).flatten(1).sum(1).mean())
    for _ in range(3):
        v = torch.randn_like(x)
        eps = 1e-7  # small: leaky-ReLU kinks inside the interval would bias the difference
        fd = (d(x + eps * v).sum() - d(x - eps * v).sum()) / (2 * eps)
        assert torch.allclose(fd, (grad * v).sum(), rtol=1e-5, atol=1e-8)
    # And the penalty is differentiable in D's weights: its gradient matches finite differences too.
    w = d.from_rgb.weight
    g_w = torch.autograd.grad(r1_penalty(d(x), x), w)[0]
    v = torch.randn_like(w)
    eps = 1e-7
    with torch.no_grad():
        w += eps * v
    up = r1_penalty(d(x), x).detach()
    with torch.no_grad():
        w -= 2 * eps * v
    down = r1_penalty(d(x), x).detach()
    assert torch.allclose((up - down) / (2 * eps), (g_w * v).sum(), rtol=1e-4)


def test_bad_datasets_and_configs_are_reported_before_training(dataset, tmp_path, capsys):
    """In this process (each is refused before training: a subprocess would only add its imports)."""
    import shutil

    from train.train import main

    def train(*args):
        code = main(list(args))
        return subprocess.CompletedProcess(args, code, "", capsys.readouterr().err)

    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    (broken / "images" / "syn000001.png").unlink()
    (broken / "images" / "syn000002.png").write_bytes(b"not a png")
    with open(broken / "labels.jsonl", "a") as fh:
        fh.write('{"name": "x", "camera": [1.5]}\n')
    r = train("--data.path", str(broken), "--out", str(tmp_path / "r"), "--steps", "1", *TINY)
    assert r.returncode == 2
    for needle in ("syn000001.png: missing", "syn000002.png: not a readable image", "labels.jsonl:9"):
        assert needle in r.stderr, needle
    assert not (tmp_path / "r" / "checkpoints").exists()
    r = train("--preset", "stage2", "--data.path", str(dataset), "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "model.init_from" in r.stderr
    r = train("--data.path", str(dataset), "--resolution", "48")
    assert r.returncode == 2 and "power of two" in r.stderr
    r = train("--data.path", str(dataset), "--loss.nonsense", "1")
    assert r.returncode == 2 and "unknown config field" in r.stderr


def test_face_estimator_trains_and_feeds_the_landmark_loss(dataset, tmp_path):
    from aniportrait_hub.body import FaceModel
    from aniportrait_hub.models.face_estimator import FaceCoefficientEstimator, landmark_loss
    from train.face_estimator import main as train_estimator

    est_dir = tmp_path / "est"
    # The tiny dataset has no held-out record (index 9); evaluate on a copy that marks one.
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    lines = (data / "labels.jsonl").read_text().splitlines()
    lines[-1] = lines[-1].replace('"split":"train"', '"split":"heldout"')
    (data / "labels.jsonl").write_text("\n".join(lines) + "\n")
    assert train_estimator(["--data", str(data), "--out", str(est_dir), "--steps", "30", "--batch", "8", "--res", "32"]) == 0
    report = json.loads((est_dir / "report.json").read_text())
    assert report["train"]["landmark_error_mm"] < report["train"]["mean_face_baseline_mm"] * 1.5
    est = FaceCoefficientEstimator.from_pretrained(est_dir)
    face = FaceModel.from_open_default()
    out = est(torch.rand(3, 3, 48, 48))
    assert out.identity.shape == (3, 80) and out.expression.shape == (3, 52)
    assert ((out.expression >= 0) & (out.expression <= 1)).all()
    # Eq. 9 is zero for the coefficients themselves and grows with the difference.
    same = landmark_loss(face, out.identity, out.expression, out)
    assert same.item() == 0
    jaw = out.expression.clone()
    jaw[:, face.exp_names.index("jawOpen")] += 0.5
    assert landmark_loss(face, out.identity, jaw, out).item() > 0.1
    assert train_estimator(["--data", str(data), "--out", str(est_dir)]) == 2  # never overwrites
    # The trainer takes it for the landmark term.
    run = tmp_path / "run"
    r = train("--data.path", str(dataset), "--out", str(run), "--steps", "1", *TINY, "--loss.landmark", "1",
              "--loss.face_estimator", str(est_dir))
    assert r.returncode == 0, r.stderr[-3000:]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(next((run / "logs").rglob("events.out.tfevents.*")).parent))
    acc.Reload()
    assert "reg/landmark" in acc.Tags()["scalars"]


def test_bf16_networks_with_fp32_rendering(dataset, tmp_path):
    """bf16 as ``accelerate launch --mixed_precision bf16`` asks for it (its environment
    variable): taken, and recorded in the run's config."""
    r = train("--data.path", str(dataset), "--out", str(tmp_path / "bf"), "--steps", "1", *TINY,
              env={"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "bf" / "config.json").read_text())["mixed_precision"] == "bf16"
    from aniportrait_hub.pipelines import AniPortraitGAN

    pipe = AniPortraitGAN.from_pretrained(tmp_path / "bf" / "pipeline")  # the EMA copy stays float32
    assert pipe.radiance.dtype == torch.float32


def test_ablation_switches_train(dataset, tmp_path):
    """The paper's ablations as trainer switches: D_face fed the portrait's face box (no dual
    camera), D^p off (no D^p), on one step; the exported pipeline keeps D^p off."""
    run = tmp_path / "ablation"
    render = {"pose_grid": [8, 24, 24], "samples_per_ray": 16, "map_resolution": 32, "pose_deformer": False}
    r = train("--preset", "stage1", "--data.path", str(dataset), "--out", str(run), "--steps", "1",
              "--loss.face_source", "portrait_crop", *TINY[:-6], "--model.render", json.dumps(render),
              "--log_every", "1", "--sample_every", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((run / "pipeline" / "model_index.json").read_text())
    assert cfg["render_settings"]["pose_deformer"] is False
    r = train("--preset", "stage1", "--data.path", str(dataset), "--out", str(tmp_path / "bad"), "--steps", "1",
              "--loss.face_source", "crop", *TINY)
    assert r.returncode != 0 and "face_source" in r.stderr


def test_a_training_step_makes_no_host_syncs_on_the_device_paths(dataset, tmp_path):
    """Issue 33's budget (<= 10 host syncs a step; it was 355 here, 580 with the default model):
    one stage-1 step and one stage-2 step as a GPU runs them (``device_paths``: the batched,
    sync-free forms a CPU tensor takes otherwise only on accelerators), the batch handed over
    as the DataLoader does, counted on this CPU by ``SyncCounter``. The device paths give the
    same losses as the host paths on the same step."""
    from aniportrait_hub.evaluation.syncs import SyncCounter
    from aniportrait_hub.host import device_paths
    from aniportrait_hub.pipelines import AniPortraitGAN
    from train.config import parse_config
    from train.train import Trainer

    init = tmp_path / "init"
    AniPortraitGAN.from_preset("small", seed=0).save_pretrained(init)
    stages = {1: ["--preset", "stage1", *TINY],
              2: ["--preset", "stage2", "--model.init_from", str(init), "--resolution", "64", *TINY[2:]]}
    for stage, args in stages.items():
        losses = {}
        for mode in ("host", "device"):
            torch.manual_seed(0)  # the discriminators' initialisation (stage 2 does not seed it)
            t = Trainer(parse_config([*args, "--data.path", str(dataset), "--out", str(tmp_path / f"s{stage}{mode}"),
                                      "--steps", "3"]))
            batch = t.batches(0)[0]
            with device_paths() if mode == "device" else contextlib.nullcontext():
                logs = t.train_step(batch)
                losses[mode] = {k: float(v) for k, v in logs.items() if k.startswith(("D/", "G/"))}
                if mode == "device":
                    t.step += 1
                    batch = t.batches(t.step)[t.step]
                    with SyncCounter() as syncs:
                        t.train_step(batch)
                    assert syncs.total <= 10, (stage, syncs.report())
        assert losses["host"].keys() == losses["device"].keys()
        for k, v in losses["host"].items():
            assert abs(v - losses["device"][k]) <= 1e-4 * max(1.0, abs(v)), (stage, k, v, losses["device"][k])
