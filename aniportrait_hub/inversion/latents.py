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
    """Weight of mean(eps^2) + (|appearance face id| / prior radius - 1)^2: keeps the code near
    the generator's prior (eps near N(0, I)'s bulk, the face identity on the prior's shell)."""
    face_id_lr_scale: float = 0.5
    """The appearance face identity's learning rate relative to eps's (its 80 coefficients have
    std 0.7 under the prior, eps's 1)."""
    code_limit: float = 3.0
    """eps is clamped to [-limit, limit] after each step (the prior is N(0, I); the default
    model's 15 dimensions are its teacher's appearance code, whose sampling distribution ends
    near +-3.7 by construction)."""
    loss: "LossWeights" = dataclasses.field(default_factory=lambda: LossWeights())
    """Weights of the photo loss's terms."""


@dataclasses.dataclass
class LossWeights:
    """The photo loss (:func:`photo_loss`; our choices). Every term compares the person put on
    white by the photo's mask with the render, as the renderer draws people on white, so missing
    and extra hair both count."""

    pixel: float = 1.0
    """L1 of the portrait composite."""
    ssim: float = 0.2
    """1 - SSIM of the portrait composite (``pytorch_msssim``, 7-pixel window: the composite
    is 128^2)."""
    mask: float = 0.5
    """L1 between the render's opacity and the person mask."""
    face: float = 0.5
    """L1 of the face camera's image against the photo's face crop (the face is ~15% of the
    portrait; this camera sees it at 128^2)."""


@dataclasses.dataclass
class PhotoPixels:
    """The picture at its own size: what map-level tuning compares with
    (:mod:`aniportrait_hub.inversion.maps`)."""

    image: torch.Tensor
    """[3, H, W] the portrait crop in [0, 1] (its background as photographed)."""
    mask: torch.Tensor
    """[H, W] person mask."""
    face: torch.Tensor | None = None
    """[3, h, w] the face camera's crop on white (None: no face term)."""
    mouth: torch.Tensor | None = None
    """[H, W] inside the open mouth (teeth, tongue): left out of the map fit (None: nothing)."""
    face_mouth: torch.Tensor | None = None
    """[h, w] the same in the face crop."""


@dataclasses.dataclass
class PhotoTarget:
    """What an identity is fitted to: one picture and its labels, at the loss's sides."""

    image: torch.Tensor
    """[1, 3, S, S] the portrait on white (S: the model's geometry resolution)."""
    mask: torch.Tensor
    """[1, 1, S, S] person mask."""
    face: torch.Tensor | None
    """[1, 3, F, F] the face camera's picture on white (None: no face term)."""
    face_id: torch.Tensor
    betas: torch.Tensor
    expression: torch.Tensor
    joint_eulers: torch.Tensor
    camera: torch.Tensor
    pixels: PhotoPixels | None = None
    """The picture at its own size, for map-level tuning."""

    @classmethod
    def from_images(cls, image: torch.Tensor, mask: torch.Tensor | None, face: torch.Tensor | None, face_id, betas,
                    expression, joint_eulers, camera, side: int = 128, face_side: int = 128,
                    mouth: torch.Tensor | None = None, face_mouth: torch.Tensor | None = None) -> "PhotoTarget":
        """image [3, H, W] and face [3, h, w] in [0, 1] (face already on white), mask [H, W]
        (None: the image is on white and everything not white is the person); labels [1, ...];
        mouth [H, W] / face_mouth [h, w]: the open mouth's inside (:class:`PhotoPixels`)."""
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"image must be [3, H, W], got {tuple(image.shape)}")
        image = image.float()
        if mask is None:
            mask = (image < 0.98).any(0).float()
        on_white = image * mask + (1 - mask.float())
        img = F.interpolate(on_white[None], size=side, mode="area")
        m = F.interpolate(mask.float()[None, None], size=side, mode="area")
        f = None if face is None else F.interpolate(face.float()[None], size=face_side, mode="area")
        return cls(img, m, f, *(torch.as_tensor(t, dtype=torch.float32) for t in (face_id, betas, expression,
                                                                                   joint_eulers, camera)),
                   pixels=PhotoPixels(image, mask.float(), None if face is None else face.float(),
                                      None if mouth is None else torch.as_tensor(mouth).float(),
                                      None if face_mouth is None else torch.as_tensor(face_mouth).float()))

    @classmethod
    def from_prepared(cls, photo, side: int = 128, face_side: int = 128) -> "PhotoTarget":
        """A :class:`~aniportrait_hub.inversion.PreparedPhoto`'s crops and labels."""
        def t(a):
            return torch.as_tensor(a, dtype=torch.float32)[None]

        image = torch.as_tensor(photo.image).permute(2, 0, 1).float() / 255
        face = torch.as_tensor(photo.face).permute(2, 0, 1).float() / 255
        return cls.from_images(image, torch.as_tensor(photo.mask), face, t(photo.face_id), t(photo.betas),
                               t(photo.expression), t(photo.joint_eulers), t(photo.camera), side, face_side,
                               photo.mouth, photo.face_mouth)

    def labels(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(expression, joint_eulers, camera) of the picture."""
        return self.expression, self.joint_eulers, self.camera


def photo_loss(pipe, cache, target: PhotoTarget, weights: LossWeights, field=None) -> tuple[torch.Tensor, dict]:
    """Render ``cache`` at the target's labels (low-resolution composite and face camera) and
    compare: the weighted sum of :class:`LossWeights`' terms, and each term's value."""
    from pytorch_msssim import ssim

    r = pipe.renderer()
    side = target.image.shape[-1]
    face_side = target.face.shape[-1] if target.face is not None and weights.face > 0 else None
    out = r.render(cache, target.expression, target.joint_eulers, target.camera, side, field=field,
                   low_res=True, face_resolution=face_side)
    low = out.low_res_image
    terms = {"pixel": (low - target.image).abs().mean(),
             "ssim": 1 - ssim(low, target.image, data_range=1.0, win_size=7),
             "mask": (out.mask - target.mask).abs().mean()}
    if face_side:
        terms["face"] = (out.face_image - target.face).abs().mean()
    loss = sum(getattr(weights, k) * v for k, v in terms.items())
    return loss, {k: float(v.detach()) for k, v in terms.items()}


@dataclasses.dataclass
class Inversion:
    """The result: the identity's latents and the loss of each step."""

    latents: object
    """:class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents` (batch 1); bake it with
    ``truncation_psi=1.0``."""
    losses: list[float]


def bake_low(pipe, latents, bake_resolution: int, heights: tuple | None = None):
    """An :class:`~aniportrait_hub.rendering.renderer.IdentityCache` baked at a reduced side
    (upsampled to the model's), differentiable in the latents and phi; its super-resolved maps
    are the baked colours themselves (enough for low-resolution composites, which is all a
    frame at the geometry resolution or below reads)."""
    from aniportrait_hub.rendering.baking import bake_radiance_maps, manifold_heights
    from aniportrait_hub.rendering.renderer import IdentityCache

    r, st = pipe.renderer(), pipe.render_settings
    if heights is None:
        with torch.no_grad():
            heights = manifold_heights(r.manifold, bake_resolution, st.map_x_range, st.map_y_range,
                                       st.bake_z_range, st.bake_z_samples)
    film, _ = pipe.mappings(latents)
    maps = bake_radiance_maps(heights, pipe.radiance, film, bake_resolution)
    if bake_resolution != st.map_resolution:
        maps = F.interpolate(maps.flatten(0, 1), size=st.map_resolution, mode="bilinear",
                             align_corners=False).view(*maps.shape[:3], st.map_resolution, st.map_resolution)
    return IdentityCache(latents.face_id, latents.betas, latents.noise, maps, maps[:, :, :4])


def shell_face_id(pipe, face_id: torch.Tensor) -> torch.Tensor:
    """The fitted face identity's direction at the prior's typical norm: where inversion starts
    the appearance face identity (:class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents`)."""
    radius = pipe.priors.face_id.norm(dim=1).mean()
    norm = face_id.norm(dim=1, keepdim=True)
    if float(norm.min()) < 1e-6:
        return pipe.priors.face_id[:1].expand_as(face_id).clone()
    return face_id * (radius / norm)


@torch.enable_grad()  # an optimisation: it works under a caller's no_grad too
def invert_latents(pipe, target: PhotoTarget, config: InversionConfig | None = None,
                   start=None) -> Inversion:
    """Search the appearance code ``eps`` and the appearance face identity whose render at the
    target's labels matches it (the geometry, ``face_id`` and ``betas``, is the label fit's).

    Args:
        pipe: an :class:`~aniportrait_hub.AniPortraitGAN`.
        target: the picture, mask, face crop and labels (:class:`PhotoTarget`).
        start: :class:`~aniportrait_hub.pipelines.pipeline.PortraitLatents` to start from
            (None: eps = 0, the prior's mean, and :func:`shell_face_id`; an encoder's guess starts
            nearer, :mod:`aniportrait_hub.inversion.encoder`). Its geometry is replaced by the
            target's.
    """
    from aniportrait_hub.pipelines.pipeline import PortraitLatents
    from aniportrait_hub.rendering.baking import manifold_heights

    cfg = config or InversionConfig()
    if cfg.steps < 0 or not 8 <= cfg.bake_resolution <= 1024:
        raise ValueError(f"steps must be >= 0 and bake_resolution in [8, 1024], got {cfg.steps}, {cfg.bake_resolution}")
    r, st = pipe.renderer(), pipe.render_settings
    noise = torch.zeros(1, pipe.priors.config.noise_dim) if start is None else start.noise.detach().clone().float()
    app = (start.appearance_face_id if start is not None and start.appearance_face_id is not None
           else shell_face_id(pipe, target.face_id)).detach().clone().float()
    pipe._check_latents(PortraitLatents(target.face_id, target.betas, noise, app))
    radius = pipe.priors.face_id.norm(dim=1).mean()
    with torch.no_grad():
        heights = manifold_heights(r.manifold, cfg.bake_resolution, st.map_x_range, st.map_y_range,
                                   st.bake_z_range, st.bake_z_samples)
    field = pipe.field_grid()
    noise.requires_grad_(True)
    app.requires_grad_(True)
    opt = torch.optim.Adam([{"params": [noise]}, {"params": [app], "lr": cfg.lr * cfg.face_id_lr_scale}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / cfg.steps)))
    losses = []
    for _ in tqdm(range(cfg.steps), desc="inverting", unit="step", leave=False):
        lat = PortraitLatents(target.face_id, target.betas, noise, app)
        cache = bake_low(pipe, lat, cfg.bake_resolution, heights)
        loss, _ = photo_loss(pipe, cache, target, cfg.loss, field)
        prior = noise.pow(2).mean() + (app.norm(dim=1) / radius - 1).pow(2).mean()
        loss = loss + cfg.prior_weight * prior
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            noise.clamp_(-cfg.code_limit, cfg.code_limit)
        losses.append(float(loss.detach()))
    return Inversion(PortraitLatents(target.face_id, target.betas, noise.detach(), app.detach()), losses)
