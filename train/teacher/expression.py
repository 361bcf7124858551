"""Phase 3 (``expression``): D^e against the face model's expression offsets (Eq. 10), with the
smoothness and minimal-deformation terms (Eq. 12-13)."""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from aniportrait_hub.data.synthesize import SynthConfig, sample_labels
from aniportrait_hub.deformation.expression_deformer import ExpressionGuide, imitation_targets, seam_pairs
from aniportrait_hub.models.presets import preset
from aniportrait_hub.pipelines.pipeline import AniPortraitGAN
from train.teacher.config import TeacherConfig
from train.teacher.radiance import cosine_factor


def renewed_expression(pipe: AniPortraitGAN, cfg: TeacherConfig) -> AniPortraitGAN:
    """``pipe`` with a new D^e of the preset's architecture (and the preset's
    ``expression_at_samples``, ``expression_hold`` and ``mouth_cavity``) if
    ``cfg.renew_expression_deformer``."""
    if cfg.renew_expression_deformer:
        from aniportrait_hub.deformation.expression_deformer import ExpressionDeformer

        old = pipe.expression_deformer.config
        p = preset(cfg.preset)
        de = ExpressionDeformer(id_dim=old.id_dim, exp_dim=old.exp_dim, **p["expression_deformer"])
        pipe.register_modules(expression_deformer=de.to(pipe.device))
        # Where D^e runs (grid or samples, held behind the face) belongs to it: the preset's
        # choice comes with it.
        where = {k: p["render"].get(k, False) for k in ("expression_at_samples", "expression_hold")}
        where["mouth_cavity"] = p["render"].get("mouth_cavity")
        pipe.register_to_config(render_settings={**pipe.render_settings.to_dict(), **where})
        pipe.reset_runtime()
    return pipe


def gap_targets(x_p: torch.Tensor, target: torch.Tensor, pairs: torch.Tensor, n: int, depth: float,
                g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points in the openings of ``pairs`` ([P, 2]) of bank rows x_p / target ([B, V, 3]) and the
    offsets that send them to the closed seam: x = u' + t (l' - u') + d z, offset = (u + l) / 2 - x
    + d z with u, l the pair's neutral positions (so the offset is constant along the depth
    jitter d). Returns (x [B, n, 3], offset [B, n, 3], weight [B, n]: 1 where the pair has
    parted by more than 2 mm beyond its neutral distance in that row, else 0)."""
    b, dev = x_p.shape[0], x_p.device
    pick = pairs[torch.randint(0, pairs.shape[0], (b, n), generator=g).to(dev)]  # [B, n, 2]
    rows = torch.arange(b, device=dev)[:, None]
    up, lp = x_p[rows, pick[..., 0]], x_p[rows, pick[..., 1]]
    un, ln = up + target[rows, pick[..., 0]], lp + target[rows, pick[..., 1]]
    t = torch.rand(b, n, 1, generator=g).to(dev)
    x = up + t * (lp - up)
    offset = (un + ln) / 2 - x
    dz = torch.randn(b, n, 1, generator=g).to(dev) * depth
    x = x + dz * x.new_tensor([0.0, 0.0, 1.0])
    weight = ((lp - up).norm(dim=-1) - (ln - un).norm(dim=-1) > 0.002).to(x.dtype)
    return x, offset, weight


def train_expression(pipe: AniPortraitGAN, cfg: TeacherConfig, log) -> dict:
    de = pipe.expression_deformer
    body = pipe.renderer().body
    fm = pipe.face_model()
    dev = pipe.device
    rng = np.random.default_rng([cfg.seed, 3])
    names = fm.exp_names
    opt = torch.optim.Adam(de.parameters(), cfg.lr_expression)
    cfgc = de.config
    c, h = torch.tensor(cfgc.region_center, device=dev), torch.tensor(cfgc.region_half_size, device=dev)
    synth = SynthConfig()
    n_face = fm.body_vertex_ids.shape[0]
    # The bank: Eq. 10 pairs at every face vertex for ``expression_bank`` (person, expression)
    # rows, computed once (the body model costs far more than D^e, and a step then sees many
    # expressions: with 8 rows a step D^e explained 10% of the offsets after 600 steps).
    bank_exp, bank_id, bank_x, bank_t = [], [], [], []
    for start in tqdm(range(0, cfg.expression_bank, 32), desc="expression bank"):
        n = min(32, cfg.expression_bank - start)
        labs = [sample_labels(rng, synth, names) for _ in range(n)]
        exp = np.stack([lb["expression"] for lb in labs])
        # Half the rows: single units at random intensity (what sweeps and trackers ask for).
        for r in range(n // 2):
            exp[r] = 0
            exp[r, rng.integers(len(names))] = rng.uniform(0, 1)
        face_id = torch.tensor(np.stack([lb["face_id"] for lb in labs]), dtype=torch.float32, device=dev)
        betas = torch.tensor(np.stack([lb["betas"] for lb in labs]), dtype=torch.float32, device=dev)
        expression = torch.tensor(exp, dtype=torch.float32, device=dev)
        x_p, target = imitation_targets(body, fm, face_id, betas, expression, fm.body_vertex_ids)
        bank_exp.append(expression), bank_id.append(face_id), bank_x.append(x_p), bank_t.append(target)
    bank_exp, bank_id, bank_x, bank_t = (torch.cat(v) for v in (bank_exp, bank_id, bank_x, bank_t))
    n_rows = bank_exp.shape[0]
    if cfg.expression_offset_sampling > 0:  # vertex sampling weights of every bank row, once
        mag = bank_t.norm(dim=-1)  # [rows, V]
        bank_w = (mag + cfg.expression_offset_sampling * mag.mean(-1, keepdim=True) + 1e-9).cpu()
    n_v = cfg.expression_vertices or n_face
    pairs = seam_pairs(body, fm) if cfg.expression_gap_weight > 0 else None
    g = torch.Generator().manual_seed(cfg.seed + 3)
    guided = cfgc.guide != "none"

    def film_of(rows):  # a guided D^e takes its guide from the bank rows (their face vertices)
        return de.mapping(bank_id[rows], bank_exp[rows],
                          guide=ExpressionGuide(bank_x[rows], bank_t[rows]) if guided else None)

    if guided and not cfgc.guide_residual:
        # Nothing to learn: the face model's guide is D^e. Report how it imitates Eq. 10 between
        # the vertices (points nudged 1 mm off them, as the renderer's samples fall).
        de.eval()
        tail = []
        with torch.no_grad():
            for _ in range(20):
                rows = torch.randint(0, n_rows, (cfg.expression_batch,), generator=g).to(dev)
                verts = torch.randint(0, n_face, (cfg.expression_batch, n_v), generator=g).to(dev)
                x_p = bank_x[rows[:, None], verts]
                x_p = x_p + torch.randn(x_p.shape, generator=g).to(dev) * 0.001
                target = bank_t[rows[:, None], verts]
                tail.append(((de(x_p, film_of(rows)) - target).pow(2).sum(-1).mean().item(),
                             target.pow(2).sum(-1).mean().item()))
        imit, off = (math.sqrt(float(np.mean(v))) * 1000 for v in zip(*tail))
        return {"imitation_rms_mm": imit, "offset_rms_mm": off, "explained_share": 1 - imit / off, "steps": 0,
                "guide": cfgc.guide}
    de.train()
    tail = []  # (imitation mse, offset mse) of the last steps, for the report
    for step in tqdm(range(cfg.expression_steps), desc="expression"):
        for grp in opt.param_groups:
            grp["lr"] = cfg.lr_expression * cosine_factor(step / cfg.expression_steps)
        rows = torch.randint(0, n_rows, (cfg.expression_batch,), generator=g).to(dev)
        if cfg.expression_offset_sampling > 0:
            verts = torch.multinomial(bank_w[rows.cpu()], n_v, replacement=True, generator=g).to(dev)
        else:
            verts = torch.randint(0, n_face, (cfg.expression_batch, n_v), generator=g).to(dev)
        x_p = bank_x[rows[:, None], verts]
        target = bank_t[rows[:, None], verts]
        film = film_of(rows)
        imitation = (de(x_p, film) - target).pow(2).sum(-1).mean()
        gap = imitation.new_zeros(())
        if pairs is not None and len(pairs):
            x_g, t_g, w_g = gap_targets(bank_x[rows], bank_t[rows], pairs, cfg.expression_gap_points,
                                        cfg.expression_gap_depth, g)
            gap = ((de(x_g, film) - t_g).pow(2).sum(-1) * w_g).sum() / w_g.sum().clamp_min(1)
        box = c + (torch.rand(cfg.expression_batch, 256, 3, generator=g).to(dev) * 2 - 1) * h
        d_x = de(box, film)
        shifted = box + torch.randn(box.shape, generator=g).to(dev) * cfg.expression_smooth_sigma
        smooth = (d_x - de(shifted, film)).pow(2).sum(-1).mean()
        minimal = d_x.pow(2).sum(-1).mean()
        loss = 1e4 * (imitation + cfg.expression_gap_weight * gap) + cfg.expression_smooth_weight * smooth + 10.0 * minimal
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        offset_mse = target.pow(2).sum(-1).mean()
        tail = (tail + [(imitation.item(), offset_mse.item())])[-200:]
        if step % cfg.log_every == 0 or step == cfg.expression_steps - 1:
            log({"phase": "expression", "step": step, "imitation_mm": imitation.sqrt().item() * 1000,
                 "gap_mm": gap.sqrt().item() * 1000,
                 "smooth": smooth.item(), "minimal": minimal.item(),
                 "offset_mm": offset_mse.sqrt().item() * 1000})
    de.eval()
    imit, off = (math.sqrt(float(np.mean(v))) * 1000 for v in zip(*tail))
    # Over the last 200 steps: rms of what D^e misses against the rms of the offsets themselves
    # (explained share 0 = no better than no deformation).
    return {"imitation_rms_mm": imit, "offset_rms_mm": off, "explained_share": 1 - imit / off,
            "steps": cfg.expression_steps}
