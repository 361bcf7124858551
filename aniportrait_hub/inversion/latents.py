"""Latent inversion: the appearance code of an identity that renders like a target image.

The geometry comes from the photo's label fit (face identity, body shape, pose, expression,
camera: :func:`~aniportrait_hub.inversion.prepare_photo`); what is searched is the appearance
noise ``eps`` of :class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents`, the generator's
own code, so the result renders in any view, pose and expression as a sampled identity does.

Each Adam step bakes the radiance maps at a reduced side (``InversionConfig.bake_resolution``,
upsampled to the model's; a full bake with gradients costs ~20x more on a CPU), renders the
low-resolution composite at the target's labels and compares it (L1) with the target put on
white by its person mask, as the renderer draws people (so missing and extra hair both count),
plus a pull of ``eps`` towards the prior. Measured on the default model (seed 3's own frontal
render as the target, its geometry given, the search started from eps = 0): PSNR 15.6 -> 19.6 dB
in the input view and 14.6 -> 19.9 dB 20 deg to the side after 15 steps, 46 s on this 2-core
CPU: the code found renders the person in other views as well as in the one it was fitted to.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclasses.dataclass
class InversionConfig:
    """Latent inversion settings (our choices, each named)."""

    steps: int = 20
    """Adam steps."""
    lr: float = 0.1
    """Adam's learning rate on eps (a unit-normal code), cosine-decayed to a tenth (a constant
    0.1 overshot after ~15 steps)."""
    bake_resolution: int = 64
    """Side of the radiance maps baked in each step (upsampled to the model's)."""
    prior_weight: float = 0.01
    """Weight of mean(eps^2): keeps the code near the generator's prior."""


@dataclasses.dataclass
class Inversion:
    """The result: the identity's latents and the loss of each step."""

    latents: object
    """:class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents` (batch 1); bake it with
    ``truncation_psi=1.0``."""
    losses: list[float]


def invert_latents(pipe, image: torch.Tensor, mask: torch.Tensor | None, face_id: torch.Tensor, betas: torch.Tensor,
                   expression: torch.Tensor, joint_eulers: torch.Tensor, camera: torch.Tensor,
                   config: InversionConfig | None = None, noise: torch.Tensor | None = None) -> Inversion:
    """Search the appearance code ``eps`` whose render at the given labels matches ``image``.

    Args:
        pipe: an :class:`~aniportrait_hub.AniPortraitGAN`.
        image: [3, H, W] in [0, 1], framed as the pipeline frames portraits (an aligned crop).
        mask: [H, W] person mask in [0, 1]: the target is put on white by it (None: the image
            is already on white).
        face_id [1, K], betas [1, 10], expression [1, E], joint_eulers [1, 6, 3], camera [1, 2]:
            the identity's geometry and the image's labels.
        noise: [1, D] the starting code (None: 0, the prior's mean).
    """
    from aniportrait_hub.pipelines.pipeline import PortraitLatents
    from aniportrait_hub.rendering.baking import bake_radiance_maps, manifold_heights
    from aniportrait_hub.rendering.renderer import radiance_latent

    cfg = config or InversionConfig()
    if cfg.steps < 1 or not 8 <= cfg.bake_resolution <= 1024:
        raise ValueError(f"steps must be >= 1 and bake_resolution in [8, 1024], got {cfg.steps}, {cfg.bake_resolution}")
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be [3, H, W], got {tuple(image.shape)}")
    r, st = pipe.renderer(), pipe.render_settings
    noise = torch.zeros(1, pipe.priors.config.noise_dim) if noise is None else noise.clone()
    start = PortraitLatents(face_id, betas, noise)
    pipe._check_latents(start)
    with torch.no_grad():
        heights = manifold_heights(r.manifold, cfg.bake_resolution, st.map_x_range, st.map_y_range,
                                   st.bake_z_range, st.bake_z_samples)
        base = pipe.bake_identity(start, truncation_psi=1.0)  # the parts the loop does not change
    field = pipe.field_grid()
    noise.requires_grad_(True)
    opt = torch.optim.Adam([noise], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / cfg.steps)))
    target = None
    losses = []
    for _ in tqdm(range(cfg.steps), desc="inverting", unit="step", leave=False):
        film = pipe.radiance.mapping(radiance_latent(st, face_id, noise, betas))
        maps = bake_radiance_maps(heights, pipe.radiance, film, cfg.bake_resolution)
        if cfg.bake_resolution != st.map_resolution:
            maps = F.interpolate(maps.flatten(0, 1), size=st.map_resolution, mode="bilinear",
                                 align_corners=False).view(*maps.shape[:3], st.map_resolution, st.map_resolution)
        out = r.render(dataclasses.replace(base, maps_lr=maps), expression, joint_eulers, camera, st.geometry_resolution,
                       field=field, low_res=True)
        low = out.low_res_image
        if target is None:  # the target on white, at the composite's side
            on_white = image.float() if mask is None else image.float() * mask + (1 - mask.float())
            target = F.interpolate(on_white[None], size=low.shape[-1], mode="area")
        loss = (low - target).abs().mean() + cfg.prior_weight * noise.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return Inversion(PortraitLatents(face_id, betas, noise.detach()), losses)
