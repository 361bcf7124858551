"""Train AniPortraitGAN (METHOD.md 1.5-1.7), both stages, one CPU to many GPUs.

    accelerate launch train/train.py --preset stage1 --data.path DATA --out runs/s1 [--key value ...]
    accelerate launch train/train.py --preset stage2 --data.path DATA --model.init_from runs/s1/pipeline --out runs/s2

Each step: one discriminator update (D_whole, D_face, D_torso: logistic loss weighted 0.1 / 1 /
0.5, plus R1 via ``autograd.grad(create_graph=True)``, all in ONE backward) and one generator
update (non-saturating loss + the stage-1 regularisers; gradient clipping; EMA). Batches and
latents are a function of (seed, step), so ``--resume latest`` continues exactly. Run folder:
``checkpoints/`` (accelerate state, written atomically; ``LATEST`` names the newest complete
one), ``pipeline/`` (the EMA generator, ``AniPortraitGAN.from_pretrained``-loadable),
``samples/`` (fixed-latent grids: portrait, face, depth), ``logs/`` (tensorboard), ``config.json``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python train/train.py` from anywhere

from aniportrait_hub.rendering.cameras import portrait_face_crop  # noqa: E402
from train.config import TrainConfig, config_dict, parse_config  # noqa: E402
from train.data import Conditions, RealBatch, StepBatches, TrainingData, regulariser_points  # noqa: E402
from train.losses import DISCRIMINATORS, FiniteWatch, d_logistic, g_nonsaturating, r1_penalty  # noqa: E402
from train.modules import EMA, STAGE_MODULES, Discriminators, TrainGenerator, loss_regularisers  # noqa: E402

CHECKPOINTS = "checkpoints"


class Trainer:
    """One run: models, optimisers, data, and the loop."""

    def __init__(self, cfg: TrainConfig):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration

        from aniportrait_hub.data.priors import priors_from_dataset
        from aniportrait_hub.pipelines import AniPortraitGAN

        self.cfg = cfg
        self.out = Path(cfg.out)
        # DDP: the per-person buffers (body model, face model, priors: ~45 MB) never change, so
        # they are not broadcast on every forward; every trainable parameter gets a gradient in
        # every step (TrainGenerator freezes what a model's forward never reads).
        ddp = DistributedDataParallelKwargs(broadcast_buffers=False, find_unused_parameters=False)
        self.acc = Accelerator(mixed_precision=cfg.mixed_precision or None, log_with="tensorboard",
                               kwargs_handlers=[ddp],
                               project_config=ProjectConfiguration(project_dir=str(self.out), logging_dir=str(self.out / "logs")))
        if self.acc.mixed_precision not in ("no", "bf16"):
            raise ValueError(f"mixed precision {self.acc.mixed_precision!r} (from accelerate launch or its config) is "
                             "not supported: use 'no' or 'bf16'")
        cfg.mixed_precision = self.acc.mixed_precision  # what runs, recorded in config.json
        # 1. Data first: a broken dataset is reported (every file) before any model is built.
        self.data = TrainingData(cfg.data.path, cfg.data.split, cfg.resolution, cfg.face_resolution, cfg.data.loader_threads)
        ckpt = self._resume_path()
        # 2. Generator: a preset, or a stage-1 result for stage 2; priors from this dataset.
        if cfg.model.init_from:
            pipe = AniPortraitGAN.from_pretrained(cfg.model.init_from)
            if cfg.model.render:
                pipe.set_render_settings(**cfg.model.render)
        else:
            pipe = AniPortraitGAN.from_preset(cfg.model.preset, seed=cfg.seed, render_overrides=cfg.model.render)
        pipe.priors = priors_from_dataset(self.data.ds, cfg.data.split, noise_dim=pipe.priors.config.noise_dim)
        if pipe.assets.config.exp_dim != self.data.ds.info.exp_dim or pipe.assets.config.id_dim != self.data.ds.info.id_dim:
            raise ValueError(f"dataset labels (id {self.data.ds.info.id_dim}, exp {self.data.ds.info.exp_dim}) do not "
                             f"match the model's face model (id {pipe.assets.config.id_dim}, exp {pipe.assets.config.exp_dim})")
        self.pipe = pipe
        self.noise_dim = pipe.priors.config.noise_dim
        self.trained = STAGE_MODULES[cfg.stage]
        gen = TrainGenerator(pipe, cfg.stage, cfg.resolution, cfg.face_resolution)
        disc = Discriminators(cfg.resolution, cfg.face_resolution, cfg.model.d_channel_base, cfg.model.d_channel_max,
                              cfg.model.d_mbstd_group, cfg.model.d_camera_conditioning)
        self.ema = EMA(gen, cfg.optim.ema_decay)
        if self.acc.mixed_precision == "bf16":
            gen.enable_network_autocast(torch.bfloat16)  # after the EMA copy: it stays plain float32
        self.estimator = None
        if cfg.loss.landmark > 0:
            from aniportrait_hub.models.face_estimator import FaceCoefficientEstimator

            est = FaceCoefficientEstimator.from_pretrained(cfg.loss.face_estimator)
            if est.config.basis_name != pipe.assets.config.basis_name:
                raise ValueError(f"face estimator reads the {est.config.basis_name!r} basis, the model uses "
                                 f"{pipe.assets.config.basis_name!r}")
            self.estimator = est.requires_grad_(False).eval().to(self.acc.device)
        o = cfg.optim
        opt_g = torch.optim.Adam([p for p in gen.parameters() if p.requires_grad], lr=o.lr_g, betas=o.betas, eps=o.eps)
        opt_d = torch.optim.Adam(disc.parameters(), lr=o.lr_d, betas=o.betas, eps=o.eps)
        self.gen, self.disc, self.opt_g, self.opt_d = self.acc.prepare(gen, disc, opt_g, opt_d)
        self.ema.to(self.acc.device)  # made before prepare (a plain copy): the averages live beside the weights
        self.acc.register_for_checkpointing(self.ema)
        self.step = 0
        self.finite = FiniteWatch()
        if ckpt is not None:
            self.acc.load_state(str(ckpt))
            state = json.loads((ckpt / "trainer_state.json").read_text())
            self._check_compatible(state["config"])
            self.step = state["step"]
        if self.acc.is_main_process:  # the first config stays; each resume records its own
            self.out.mkdir(parents=True, exist_ok=True)
            name = "config.json" if self.step == 0 else f"config-resume-{self.step:07d}.json"
            (self.out / name).write_text(json.dumps(config_dict(cfg), indent=1))
        self.acc.init_trackers("train", config={k: v for k, v in _flat(config_dict(cfg)).items()})
        self.fixed = _to(self.data.conditions(12345, 0, cfg.num_samples, self.noise_dim, stream=7), self.acc.device)

    # ------------------------------------------------------------------ checkpoints
    def _resume_path(self) -> Path | None:
        cfg = self.cfg
        root = self.out / CHECKPOINTS
        if not cfg.resume:
            if (root / "LATEST").exists():
                raise FileExistsError(f"{self.out} already holds checkpoints; pass --resume latest to continue or "
                                      "choose another --out")
            return None
        if cfg.resume == "latest":
            if not (root / "LATEST").exists():
                raise FileNotFoundError(f"--resume latest: no complete checkpoint in {root}")
            return root / (root / "LATEST").read_text().strip()
        path = Path(cfg.resume)
        if not (path / "trainer_state.json").exists():
            raise FileNotFoundError(f"--resume {path}: not a complete checkpoint (no trainer_state.json)")
        return path

    def _check_compatible(self, saved: dict) -> None:
        now = config_dict(self.cfg)
        for key in ("stage", "resolution", "face_resolution"):
            if saved[key] != now[key]:
                raise ValueError(f"checkpoint has {key}={saved[key]}, this run {now[key]}; resume with the same value")
        if saved["model"]["preset"] != now["model"]["preset"]:
            raise ValueError(f"checkpoint preset {saved['model']['preset']!r} != {now['model']['preset']!r}")

    def save_checkpoint(self) -> Path:
        """accelerate state + trainer state into a temporary folder, renamed when complete;
        then ``LATEST`` is replaced atomically and older checkpoints pruned. A crash at any point
        leaves the previous checkpoint and ``LATEST`` intact."""
        root = self.out / CHECKPOINTS
        final = root / f"checkpoint-{self.step:07d}"
        tmp = root / f".tmp-checkpoint-{self.step:07d}"
        if self.acc.is_main_process:
            root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            (tmp / "trainer_state.json").write_text(json.dumps({"step": self.step, "config": config_dict(self.cfg)}))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            latest_tmp = root / ".LATEST.tmp"
            latest_tmp.write_text(final.name)
            os.replace(latest_tmp, root / "LATEST")
            done = sorted(p for p in root.glob("checkpoint-*") if p.is_dir())
            for old in done[:-self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
            self.export_pipeline()
            self.write_curves()
        self.acc.wait_for_everyone()
        return final

    def write_curves(self) -> None:
        """``curves.png`` from the tensorboard log (flushed first)."""
        from train.curves import plot

        try:
            self.acc.get_tracker("tensorboard", unwrap=True).flush()
        except (ValueError, AttributeError):
            return
        plot(self.out)

    def ema_pipeline(self):
        """The EMA generator as an :class:`AniPortraitGAN` (shares the assets and priors)."""
        from aniportrait_hub.pipelines import AniPortraitGAN

        p = self.pipe
        mods = self.ema.modules
        return AniPortraitGAN(mods["manifold"], mods["radiance"], mods["pose_deformer"], mods["expression_deformer"],
                              mods["superres"], p.assets, p.priors, render_settings=p.config.render_settings,
                              default_resolution=p.config.default_resolution,
                              default_face_resolution=p.config.default_face_resolution)

    def export_pipeline(self) -> None:
        """``pipeline/``: the EMA generator, written to a temporary folder then swapped in."""
        final, tmp = self.out / "pipeline", self.out / ".tmp-pipeline"
        shutil.rmtree(tmp, ignore_errors=True)
        self.ema_pipeline().save_pretrained(tmp)
        old = self.out / ".old-pipeline"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ samples
    @torch.no_grad()
    def write_samples(self) -> Path:
        """Fixed latents through the EMA generator: one row per identity, portrait | face | depth."""
        from PIL import Image

        cfg = self.cfg
        gen = TrainGenerator(self.ema_pipeline(), cfg.stage, cfg.resolution, cfg.face_resolution, trainable=False)
        out = gen.to(self.acc.device)(self.fixed)
        r = cfg.resolution
        face = torch.nn.functional.interpolate(out.face, size=(r, r), mode="bilinear", align_corners=False)
        d = out.depth
        fg = d > 0
        lo = torch.where(fg, d, torch.full_like(d, float("inf"))).amin((1, 2, 3), keepdim=True)
        hi = torch.where(fg, d, torch.zeros_like(d)).amax((1, 2, 3), keepdim=True)
        depth = torch.where(fg, 1 - (d - lo) / (hi - lo).clamp_min(1e-6), torch.zeros_like(d)).expand(-1, 3, -1, -1)
        rows = torch.cat([out.image, face, depth], -1)  # [N, 3, R, 3R]
        grid = rows.permute(0, 2, 3, 1).reshape(-1, 3 * r, 3).clamp(0, 1)
        path = self.out / "samples" / f"step-{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((grid.cpu().numpy() * 255).round().astype("uint8")).save(path)
        return path

    def write_reals(self) -> None:
        from PIL import Image

        real = self.data.real_batch(self.cfg.seed, 0, self.cfg.num_samples, 0, self.cfg.num_samples)
        r = self.cfg.resolution
        face = torch.nn.functional.interpolate(real.face, size=(r, r), mode="bilinear", align_corners=False)
        grid = torch.cat([real.image, face], -1).permute(0, 2, 3, 1).reshape(-1, 2 * r, 3)
        path = self.out / "samples" / "reals.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((grid.numpy() * 255).round().astype("uint8")).save(path)

    # ------------------------------------------------------------------ one step
    def batches(self, start: int) -> StepBatches:
        """This process's rows of every step's batch from ``start`` (real images and generator
        conditions, a function of (seed, step))."""
        cfg, acc = self.cfg, self.acc
        b = cfg.data.batch_size
        return StepBatches(self.data, cfg.seed, b * acc.num_processes, acc.process_index * b,
                           (acc.process_index + 1) * b, self.noise_dim)

    def loader(self):
        """The steps from here to the end through a ``DataLoader``: decoded by ``data.workers``
        processes ahead of the step (``data.prefetch`` each), in pinned memory on CUDA."""
        from torch.utils.data import DataLoader

        w = self.cfg.data.workers
        return DataLoader(self.batches(self.step), batch_size=None, sampler=range(self.step, self.cfg.steps),
                          num_workers=w, pin_memory=self.acc.device.type == "cuda",
                          prefetch_factor=self.cfg.data.prefetch if w else None, collate_fn=None)

    def train_step(self, batch: dict | None = None) -> dict[str, torch.Tensor]:
        """One D and one G update. ``batch``: this step's item of :meth:`loader` (None: loaded
        here). The logged values come back as device tensors: read them on log steps only."""
        cfg, acc = self.cfg, self.acc
        dev = acc.device
        b = cfg.data.batch_size
        gb = b * acc.num_processes
        lo, hi = acc.process_index * b, (acc.process_index + 1) * b
        if batch is None:
            batch = self.batches(self.step)[self.step]
        real = RealBatch(*(batch[k].to(dev, non_blocking=True) for k in ("real_image", "real_face", "real_camera")))
        cond = Conditions(*(batch[k].to(dev, non_blocking=True) for k in Conditions.__dataclass_fields__))
        gen_raw = acc.unwrap_model(self.gen)
        disc_raw = acc.unwrap_model(self.disc)
        logs: dict[str, torch.Tensor] = {}
        # 1. Discriminators: logistic loss on reals and fakes (one forward) + R1.
        do_r1 = cfg.loss.r1_gamma > 0 and self.step % cfg.loss.r1_interval == 0
        with torch.no_grad():
            fake = gen_raw(cond)
        crop = cfg.loss.face_source == "portrait_crop"
        real_img = real.image.to(dev).requires_grad_(do_r1)
        real_face = (self._crop(real.image.to(dev)) if crop else real.face.to(dev)).requires_grad_(do_r1)
        fake_face = self._crop(fake.image) if crop else fake.face
        real_logits, fake_logits = self.disc((real_img, real_face, real.camera.to(dev)),
                                             (fake.image, fake_face, cond.camera))
        terms = {}
        for name, key, weight in DISCRIMINATORS:
            w = getattr(cfg.loss, weight)
            lr, lf = real_logits[name], fake_logits[name]
            terms[f"D/{name}"] = w * d_logistic(lr, lf)
            logs[f"D/{name}_real"], logs[f"D/{name}_fake"] = lr.detach().mean(), lf.detach().mean()
            if do_r1:
                r1 = r1_penalty(lr, real_img if key == "image" else real_face)
                terms[f"R1/{name}"] = w * cfg.loss.r1_gamma / 2 * cfg.loss.r1_interval * r1
                logs[f"R1/{name}_raw"] = r1.detach()
        self.finite.watch(terms, self.step)
        d_loss = sum(terms.values())
        logs["grad_norm/D"] = self._update(self.opt_d, self.disc, d_loss, cfg.optim.grad_clip_d)
        logs.update({k: v.detach() for k, v in terms.items()})
        # 2. Generator: non-saturating loss through the (frozen) discriminators + regularisers.
        disc_raw.requires_grad_(False)
        reg = None
        if cfg.stage == 1:
            reg = regulariser_points(cfg.seed, self.step, gb, len(gen_raw.face_model.body_vertex_ids),
                                     cfg.loss.smoothness_delta).slice(lo, hi)
        out = self.gen(cond, reg)
        fl = disc_raw.logits(out.image, self._crop(out.image) if crop else out.face, cond.camera)
        gterms = {f"G/{name}": getattr(cfg.loss, weight) * g_nonsaturating(fl[name]) for name, _, weight in DISCRIMINATORS}
        gterms.update({f"reg/{k}": v for k, v in loss_regularisers(out.regularisers, cfg.loss).items()})
        if self.estimator is not None:  # Eq. 9 through the frozen estimator
            from aniportrait_hub.models.face_estimator import landmark_loss

            gterms["reg/landmark"] = cfg.loss.landmark * landmark_loss(
                gen_raw.face_model, cond.face_id, cond.expression, self.estimator(out.face))
        self.finite.watch(gterms, self.step)
        g_loss = sum(gterms.values())
        logs["grad_norm/G"] = self._update(self.opt_g, self.gen, g_loss, cfg.optim.grad_clip)
        disc_raw.requires_grad_(True)
        self.ema.update(gen_raw, self.trained, self.step if cfg.optim.ema_rampup else None)
        logs.update({k: v.detach() for k, v in gterms.items()})
        logs["loss/D"], logs["loss/G"] = d_loss.detach(), g_loss.detach()
        return logs

    def _crop(self, image: torch.Tensor) -> torch.Tensor:
        """D_face's input cut from portraits (``loss.face_source='portrait_crop'``)."""
        return portrait_face_crop(image, self.pipe.render_settings, self.cfg.face_resolution)

    def _update(self, opt, model, loss: torch.Tensor, max_norm: float) -> torch.Tensor:
        """ONE backward of the summed loss, gradient clipping (0 = none), step; the gradient norm
        (a device tensor)."""
        opt.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        params = [p for p in model.parameters() if p.grad is not None]
        norm = self.acc.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf) if params else None
        opt.step()
        return norm.detach() if isinstance(norm, torch.Tensor) else torch.zeros((), device=loss.device)

    # ------------------------------------------------------------------ loop
    def train(self) -> None:
        from tqdm.auto import tqdm

        cfg = self.cfg
        if self.acc.is_main_process and self.step == 0:
            self.write_reals()
            self.write_samples()
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"stage {cfg.stage}", disable=not self.acc.is_main_process)
        gb = cfg.data.batch_size * self.acc.num_processes
        t0, done = time.perf_counter(), 0
        for batch in self.loader():
            logs = self.train_step(batch)
            self.step += 1
            done += 1
            last = self.step == cfg.steps
            logged = self.step % cfg.log_every == 0 or last
            if logged:
                # the only place the host reads the step's values (and the non-finite watch)
                self.finite.check()
                names = list(logs)
                values = dict(zip(names, torch.stack([logs[n].float().reshape(()) for n in names]).tolist()))
                values["images_per_s"] = gb * done / (time.perf_counter() - t0)
                self.acc.log(values, step=self.step)
                bar.set_postfix(D=f"{values['loss/D']:.3f}", G=f"{values['loss/G']:.3f}",
                                ips=f"{values['images_per_s']:.2f}")
            if self.acc.is_main_process and (self.step % cfg.sample_every == 0 or last):
                self.write_samples()
            if self.step % cfg.checkpoint_every == 0 or last:
                self.finite.check()  # a checkpoint never holds weights a non-finite step made
                self.save_checkpoint()
            if logged:  # the next interval starts here (samples and checkpoints are not timed)
                t0, done = time.perf_counter(), 0
            bar.update(1)
        bar.close()
        if self.acc.device.type == "cuda":  # read by benchmarks/gpu.py
            print(f"peak_memory_gb={torch.cuda.max_memory_allocated(self.acc.device) / 2**30:.3f}", file=sys.stderr)
        self.acc.end_training()


def _to(cond: Conditions, device) -> Conditions:
    return Conditions(*(getattr(cond, f).to(device) for f in cond.__dataclass_fields__))





def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def main(argv: list[str] | None = None) -> int:
    from aniportrait_hub.data.format import DatasetError
    from train.losses import NonFiniteLoss

    try:
        cfg = parse_config(argv)
        Trainer(cfg).train()
    except (ValueError, FileExistsError, FileNotFoundError, DatasetError, NonFiniteLoss) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
