"""Pivotal tuning: fine-tune the generator around an inverted code so it draws the photo's
person, while other identities barely move (METHOD.md section 2; Roich et al.'s PTI).

The code found by :func:`~aniportrait_hub.inversion.invert_latents` is the *pivot*; the
tuned tensors are phi's colour and opacity heads (``TuneConfig.parameters``): the FiLM-SIREN
trunk, which shapes the canonical space every identity shares, stays. The loss is the
inversion's photo loss (composite, SSIM, mask, face camera) plus a locality term: the radiance
maps of ``locality_identities`` other identities, baked by the tuned phi, are pulled towards
what the original phi baked for them.

The result is a :class:`~aniportrait_hub.AniPortraitGAN` whose radiance component is the tuned
copy (everything else shared with the original); :mod:`aniportrait_hub.inversion.personal`
saves it as a personal model.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from tqdm.auto import tqdm

from aniportrait_hub.inversion.latents import LossWeights, PhotoTarget, bake_low, photo_loss


@dataclasses.dataclass
class TuneConfig:
    """Pivotal tuning settings (our choices, each named)."""

    steps: int = 40
    """Adam steps."""
    lr: float = 1e-4
    """Adam's learning rate (cosine-decayed to a tenth)."""
    parameters: tuple[str, ...] = ("color_layer", "color_head", "sigma_heads")
    """Submodules of phi that are tuned (names in ``RadianceGenerator``): colour, the feature
    channels U reads, and opacity (hair outline). The trunk and mapping stay."""
    bake_resolution: int = 64
    """Side of the maps baked in each step (as the inversion's)."""
    locality_weight: float = 10.0
    """Weight of the L1 between other identities' maps under the tuned and the original phi.
    Measured on the astronaut (6 steps at 5e-4): weight 1 with 2 identities moved four unseen
    people's renders by 0.031 (mean absolute, [0, 1] pixels) while the person's own render
    moved 0.039; weight 10 with 4 identities by 0.020 and 0.024. The tuned heads are shared by
    everybody, so the change is far from local (see BENCHMARKS.md)."""
    locality_identities: int = 4
    """Other identities (drawn from the priors, seeded) the locality term watches."""
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    """Weights of the photo loss's terms."""


@dataclasses.dataclass
class Tuning:
    """The tuned pipeline and the loss of each step (photo loss, locality)."""

    pipe: object
    losses: list[float]
    locality: list[float]


@torch.enable_grad()  # an optimisation: it works under a caller's no_grad too
def tune_identity(pipe, target: PhotoTarget, latents, config: TuneConfig | None = None, seed: int = 0) -> Tuning:
    """Fine-tune a copy of ``pipe``'s phi so ``latents`` (the pivot) render like ``target``.

    The original pipeline is not changed; the returned one shares every component but phi.
    """
    from aniportrait_hub.pipelines.pipeline import PortraitLatents
    from aniportrait_hub.rendering.baking import manifold_heights

    cfg = config or TuneConfig()
    if cfg.steps < 0 or cfg.locality_identities < 0 or cfg.locality_weight < 0:
        raise ValueError("steps, locality_identities and locality_weight must be >= 0")
    tuned = copy.copy(pipe)  # a shallow copy: new module registry, shared modules but phi
    radiance = copy.deepcopy(pipe.radiance)
    tuned.register_modules(radiance=radiance)
    tuned._runtime = {k: v for k, v in pipe._runtime.items() if k in ("field", "heights")}  # M unchanged
    names = set(cfg.parameters)
    unknown = names - {n for n, _ in radiance.named_children()}
    if unknown:
        raise ValueError(f"no submodules {sorted(unknown)} in the radiance generator")
    for p in radiance.parameters():
        p.requires_grad_(False)
    params = [p for n, m in radiance.named_children() if n in names for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    r, st = tuned.renderer(), tuned.render_settings
    with torch.no_grad():
        heights = manifold_heights(r.manifold, cfg.bake_resolution, st.map_x_range, st.map_y_range,
                                   st.bake_z_range, st.bake_z_samples)
        others = pipe.sample_latents(cfg.locality_identities, seed=seed) if cfg.locality_identities else None
        ref = bake_low(pipe, others, cfg.bake_resolution, heights).maps_lr if others is not None else None
    field = tuned.field_grid()
    pivot = PortraitLatents(latents.face_id, latents.betas, latents.noise.detach())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / cfg.steps)))
    losses, locality = [], []
    try:
        for _ in tqdm(range(cfg.steps), desc="pivotal tuning", unit="step", leave=False):
            cache = bake_low(tuned, pivot, cfg.bake_resolution, heights)
            loss, _ = photo_loss(tuned, cache, target, cfg.loss, field)
            loc = torch.zeros(())
            if ref is not None:
                loc = (bake_low(tuned, others, cfg.bake_resolution, heights).maps_lr - ref).abs().mean()
            opt.zero_grad(set_to_none=True)
            (loss + cfg.locality_weight * loc).backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            locality.append(float(loc.detach()))
    finally:
        for p in radiance.parameters():
            p.requires_grad_(False)
    radiance.eval()
    return Tuning(tuned, losses, locality)
