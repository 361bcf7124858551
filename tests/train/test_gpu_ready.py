"""The trainer and the pipeline ready for accelerators (issue 33), checked on the CPU: every
trainable parameter gets a gradient (DDP without find_unused_parameters), M stays out of
mixed precision, ``AniPortraitGAN.to`` rebuilds what it derived on the old device, and the
steps run on CUDA where there is one (listed as skipped where there is not)."""

import json

import pytest
import torch

from aniportrait_hub.pipelines import AniPortraitGAN
from train.data import Conditions, regulariser_points
from train.modules import EMA, TrainGenerator

RENDER = {"pose_grid": [8, 24, 24], "samples_per_ray": 16, "map_resolution": 32}


def _conditions(pipe: AniPortraitGAN, b: int = 2) -> Conditions:
    g = torch.Generator().manual_seed(0)
    c = pipe.assets.config
    eul = torch.zeros(b, 6, 3)
    eul[:, 3, 1] = torch.tensor([0.3, -0.2])[:b]
    return Conditions(torch.randn(b, c.id_dim, generator=g), torch.randn(b, 10, generator=g) * 0.5,
                      torch.randn(b, pipe.priors.config.noise_dim, generator=g),
                      torch.rand(b, c.exp_dim, generator=g) * 0.5, eul,
                      torch.tensor([[1.5708, 1.4], [1.5, 1.75]])[:b])


@pytest.mark.parametrize("preset", ["small", "default"])
def test_every_trainable_parameter_gets_a_gradient_in_stage_1(preset):
    """DDP (find_unused_parameters=False) stalls from step 2 on a parameter without a gradient:
    the default preset's D^e is the face model's warp alone, so its network is frozen."""
    pipe = AniPortraitGAN.from_preset(preset, seed=0, render_overrides=RENDER)
    gen = TrainGenerator(pipe, 1, 32, 32)
    reg = regulariser_points(0, 0, 2, len(gen.face_model.body_vertex_ids), 0.01)
    out = gen(_conditions(pipe), reg)
    (out.image.mean() + out.face.mean() + sum(out.regularisers.values())).backward()
    trainable = {n: p for n, p in gen.named_parameters() if p.requires_grad}
    assert trainable and all(n.split(".")[0] in ("manifold", "radiance", "pose_deformer", "expression_deformer")
                             for n in trainable)
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert not missing, missing
    if preset == "default":
        assert not any(p.requires_grad for p in gen.expression_deformer.parameters())


def test_m_stays_float32_under_mixed_precision():
    pipe = AniPortraitGAN.from_preset("small", seed=0, render_overrides=RENDER)
    gen = TrainGenerator(pipe, 1, 32, 32)
    pts = torch.rand(1, 500, 3) - 0.5
    before = gen.manifold(pts)
    gen.enable_network_autocast(torch.bfloat16)
    assert torch.equal(gen.manifold(pts), before)  # M picks the manifold a ray meets: never bf16
    # phi, D^e and U do run under autocast (their forward is wrapped; M's is the class's own)
    assert "forward" in vars(gen.radiance) and "forward" in vars(gen.superres)
    assert "forward" not in vars(gen.manifold)


def test_pipeline_to_rebuilds_what_it_derived_on_the_old_device():
    pipe = AniPortraitGAN.from_preset("small", seed=0, render_overrides=RENDER)
    first = pipe.renderer()
    assert pipe.to("cpu").renderer() is first  # nothing moved: kept
    pipe.to(torch.float64)
    again = pipe.renderer()
    assert again is not first  # rebuilt (the body model itself stays float32 by design)
    assert pipe.renderer() is again  # and kept until the next move


def test_ema_follows_the_weights_device():
    pipe = AniPortraitGAN.from_preset("small", seed=0, render_overrides=RENDER)
    gen = TrainGenerator(pipe, 1, 32, 32)
    ema = EMA(gen, 0.99).to("meta")
    assert all(p.device.type == "meta" for m in ema.modules.values() for p in m.parameters())


DEVICES = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
def test_a_step_of_each_stage_and_a_frame_on_the_device(device, tmp_path):
    """Two steps of stage 1 (the second is where DDP used to fail), two of stage 2 from it, and a
    cached frame, all on ``device``; bf16 from the launcher's environment."""
    import math
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_train import TINY, train

    from aniportrait_hub.data.synthesize import SynthConfig, build

    data = tmp_path / "syn"
    build(SynthConfig(out=data, n=8, res=64, workers=1))
    s1 = tmp_path / "s1"
    r = train("--preset", "stage1", "--data.path", str(data), "--out", str(s1), "--steps", "2", *TINY,
              env={"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((s1 / "config.json").read_text())["mixed_precision"] == "bf16"
    r = train("--preset", "stage2", "--data.path", str(data), "--model.init_from", str(s1 / "pipeline"),
              "--out", str(tmp_path / "s2"), "--steps", "2", "--resolution", "64", *TINY[2:])
    assert r.returncode == 0, r.stderr[-3000:]
    pipe = AniPortraitGAN.from_pretrained(s1 / "pipeline")
    pipe.renderer()  # built on the CPU first: .to must rebuild it
    pipe.to(device)
    cache = pipe.bake_identity(pipe.sample_latents(1, seed=0), 0.7)
    frame = pipe.render_frame(cache, torch.zeros(1, 52, device=device), torch.zeros(1, 6, 3, device=device),
                              torch.tensor([[math.pi / 2, math.pi / 2]], device=device), 64)
    assert frame.image.device.type == device and torch.isfinite(frame.image).all()
