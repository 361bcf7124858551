"""Pivotal tuning: fine-tune the generator around an inverted code so it draws the photo's
person, while other identities barely move (METHOD.md section 2; Roich et al.'s PTI).

The code found by :func:`~aniportrait_hub.inversion.invert_latents` is the *pivot*. Two modes
(``TuneConfig.mode``, our choice named there):

- ``"film"`` (default): tune the pivot's own FiLM modulation of phi, an offset of its
  frequencies and phases (:attr:`PortraitLatents.film_offset`, 2 x 7 x 128 values with the
  default model) that travels with the person's latents. No weight changes, so every other
  identity renders exactly as before (locality by construction).
- ``"weights"``: PTI proper, tune a copy of phi's colour and opacity heads
  (``TuneConfig.parameters``; the FiLM-SIREN trunk, which shapes the canonical space every
  identity shares, stays) with a locality term: the radiance maps of ``locality_identities``
  other identities, baked by the tuned phi, are pulled towards what the original phi baked.
  The heads are shared by everybody, so this moves unseen people about as much as the person
  (BENCHMARKS.md, "Own-photo animation").

Both use the inversion's photo loss (composite, SSIM, mask, face camera).
:mod:`aniportrait_hub.inversion.personal` saves the result as a personal model.
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

    mode: str = "film"
    """``"film"``: the person's own FiLM offset (other identities cannot move); ``"weights"``:
    phi's heads (``parameters``) with the locality term (see the module docstring)."""
    steps: int = 30
    """Adam steps."""
    lr: float = 1e-4
    """Adam's learning rate (cosine-decayed to a tenth) in ``"weights"`` mode."""
    film_lr: float = 0.02
    """Adam's learning rate of the FiLM offset in ``"film"`` mode, in the mapping network's
    output units (frequencies are 15x those: :class:`~aniportrait_hub.conditioning.mapping.FiLMMapping`)."""
    film_weight: float = 1.0
    """Weight of the mean squared FiLM offset (mapping units): keeps the person's modulation
    near the generator's, where phi was trained."""
    parameters: tuple[str, ...] = ("color_layer", "color_head", "sigma_heads")
    """Submodules of phi that are tuned (names in ``RadianceGenerator``): colour, the feature
    channels U reads, and opacity (hair outline). The trunk and mapping stay."""
    bake_resolution: int = 64
    """Side of the maps baked in each step (as the inversion's)."""
    locality_weight: float = 10.0
    """``"weights"`` mode: weight of the L1 between other identities' maps under the tuned and
    the original phi. Measured on the astronaut (6 steps at 5e-4): weight 1 with 2 identities
    moved four unseen people's renders by 0.031 (mean absolute, [0, 1] pixels) while the
    person's own render moved 0.039; weight 10 with 4 identities by 0.020 and 0.024. The tuned
    heads are shared by everybody, so the change is far from local (see BENCHMARKS.md)."""
    locality_identities: int = 4
    """``"weights"`` mode: other identities (drawn from the priors, seeded) the locality term watches."""
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    """Weights of the photo loss's terms."""


@dataclasses.dataclass
class Tuning:
    """The tuned pipeline and latents (``"film"`` mode: the original pipeline and the pivot with
    its FiLM offset; ``"weights"``: a copy with the tuned phi and the pivot) and the loss of each
    step (photo loss, locality; locality is empty in ``"film"`` mode, where it is zero)."""

    pipe: object
    latents: object
    losses: list[float]
    locality: list[float]


def _schedule(opt, steps: int):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / steps)))


@torch.enable_grad()  # an optimisation: it works under a caller's no_grad too
def tune_identity(pipe, target: PhotoTarget, latents, config: TuneConfig | None = None, seed: int = 0) -> Tuning:
    """Tune the pivot ``latents`` (``"film"``) or a copy of ``pipe``'s phi (``"weights"``) so the
    person renders like ``target``. ``pipe`` is never changed."""
    cfg = config or TuneConfig()
    if cfg.mode not in ("film", "weights"):
        raise ValueError(f"TuneConfig.mode must be 'film' or 'weights', got {cfg.mode!r}")
    if cfg.steps < 0 or cfg.locality_identities < 0 or cfg.locality_weight < 0:
        raise ValueError("steps, locality_identities and locality_weight must be >= 0")
    pivot = dataclasses.replace(latents, noise=latents.noise.detach())
    if pivot.appearance_face_id is not None:
        pivot = dataclasses.replace(pivot, appearance_face_id=pivot.appearance_face_id.detach())
    heights = _heights(pipe, cfg.bake_resolution)
    return (_tune_film if cfg.mode == "film" else _tune_weights)(pipe, target, pivot, cfg, heights, seed)


def _heights(pipe, side: int):
    from aniportrait_hub.rendering.baking import manifold_heights

    r, st = pipe.renderer(), pipe.render_settings
    with torch.no_grad():
        return manifold_heights(r.manifold, side, st.map_x_range, st.map_y_range, st.bake_z_range, st.bake_z_samples)


def _tune_film(pipe, target, pivot, cfg: TuneConfig, heights, seed: int) -> Tuning:
    m = pipe.radiance.mapping_net
    start = pivot.film_offset.detach().clone() if pivot.film_offset is not None else None
    scale = torch.tensor([15.0, 1.0]).view(1, 2, 1, 1)  # FiLMMapping: freqs = 15 f + 30, phases = p
    delta = torch.zeros(1, 2, m.num_layers, m.width) if start is None else start / scale
    delta.requires_grad_(True)
    field = pipe.field_grid()
    opt = torch.optim.Adam([delta], lr=cfg.film_lr)
    sched = _schedule(opt, cfg.steps)
    losses = []
    for _ in tqdm(range(cfg.steps), desc="pivotal tuning", unit="step", leave=False):
        lat = dataclasses.replace(pivot, film_offset=delta * scale)
        loss, _ = photo_loss(pipe, bake_low(pipe, lat, cfg.bake_resolution, heights), target, cfg.loss, field)
        opt.zero_grad(set_to_none=True)
        (loss + cfg.film_weight * delta.pow(2).mean()).backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return Tuning(pipe, dataclasses.replace(pivot, film_offset=(delta * scale).detach()), losses, [])


def _tune_weights(pipe, target, pivot, cfg: TuneConfig, heights, seed: int) -> Tuning:
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
    params = [p for n, mod in radiance.named_children() if n in names for p in mod.parameters()]
    for p in params:
        p.requires_grad_(True)
    with torch.no_grad():
        others = pipe.sample_latents(cfg.locality_identities, seed=seed) if cfg.locality_identities else None
        ref = bake_low(pipe, others, cfg.bake_resolution, heights).maps_lr if others is not None else None
    field = tuned.field_grid()
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = _schedule(opt, cfg.steps)
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
    return Tuning(tuned, pivot, losses, locality)
