"""Map-level tuning: the photo's own pixels become the person's appearance.

After the inversion has placed the geometry, the labels and the appearance code, the identity's
radiance maps are tuned against the photo through the renderer, as a residual
(:class:`~aniportrait_hub.rendering.map_residual.MapResidual`): colour at twice the baked maps'
side (the super-resolved maps are read there) and opacity at the baked side (the silhouette and
the hair outline). The photo's rays meet the manifolds at fixed places for its labels, so the
intersections of the portrait camera and the face camera are found once, and every step only
looks the maps up and composites them: a step costs a few tenths of a second here.

The loss compares the renders with the photo in both cameras, colour only where a photo pixel
shows the person's own surface (inside the person mask less its edge band, where the mask's
blur mixes the background in; outside the open mouth, whose teeth would otherwise be painted
onto the canonical lips; outside the render's mouth cavity), and the render's opacity with the
mask everywhere. What the photo does not see stays plausible:

- **mirror symmetry** in canonical x (faces and hair are roughly symmetric, and canonical x = 0
  is the body's midline): a texel the photo sees poorly is pulled towards its mirror image,
  in proportion to how well the photo sees that one;
- **the generator's own maps** elsewhere: the residual of texels the photo does not see is
  pulled to 0; after the fit, texels seen poorly or only through left-out pixels, and unseen
  ones near seen ones, take their neighbours' residual (a push-pull fill that fades out), so
  the generator's colour meets the photo's without a seam;
- a **total-variation** term on the residual, so it has no speckle where the photo's pixels
  are sparser than the texels.

How well the photo sees a texel is the gradient of the render with respect to that texel's
colour (its compositing weight summed over the pixels that read it), in both cameras,
normalised by its 95th percentile. The photo's expression and head pose are the ones the label
fit found, and the renders are made at them, so the maps stay canonical: a smile in the photo
is the deformer's smile, not a stretched texture.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from aniportrait_hub.rendering.map_residual import MapResidual, apply_to_hr


@dataclasses.dataclass
class MapTuneConfig:
    """Map-level tuning settings (our choices, each named)."""

    steps: int = 40
    """Adam steps."""
    lr: float = 0.03
    """Adam's learning rate on the residual (colour units), cosine-decayed to a tenth. On the
    astronaut (quick, dlib distance of the input view / yaw -20 deg): 0.02 -> 0.427 / 0.520,
    0.03 -> 0.321 / 0.471 in the same 40 steps; 55 steps at 0.02 -> 0.335 / 0.480."""
    resolution: int = 256
    """Side of the portrait render compared with the photo (its aligned crop is resampled to it)."""
    face_resolution: int = 256
    """Side of the face-camera render compared with the photo's face crop."""
    mask_weight: float = 0.5
    """Weight of the L1 between the render's opacity and the person mask."""
    face_weight: float = 1.0
    """Weight of the face camera's L1 (the face is ~15% of the portrait)."""
    symmetry_weight: float = 1.0
    """Weight of the mirror term (0: off)."""
    prior_weight: float = 1.0
    """Weight of the pull of unseen texels' residual to 0."""
    tv_weight: float = 0.05
    """Weight of the residual's total variation."""
    alpha_lr_scale: float = 2.0
    """The opacity residual's learning rate relative to the colour's. On a synthetic person photographed on
    grey (quick), 0.5 left 1.5% of the portrait opaque where the photo's mask is < 0.2 (a band above
    the shoulders and the hair outline), 2.0 1.0%."""
    seen_reach: int = 5
    """Side of the window (texels) over which how well a texel is seen is the best of its
    neighbours' (odd)."""
    mask_ramp: tuple[float, float] = (0.3, 0.7)
    """The opacity target: the person mask mapped from this range onto [0, 1]. A segmentation
    mask's soft halo (0.1-0.4 around the head on a plain background) otherwise keeps a faint
    dome of the generator's hair where the photo has none."""
    edge_band: float = 0.008
    """Width of the person mask's edge band left out of the colour terms (a fraction of the
    render side; the mask term still reads it): its pixels mix the photo's background in."""
    fill_below: float = 0.15
    """Texels seen less than this (through trusted pixels; 1 = the 95th percentile) take their
    neighbours' residual (a push-pull fill) instead of their own fit: edge-band and open-mouth
    texels, and those the photo sees at a grazing angle, where one pixel stretches over many
    texels (0: no fill). On a held-out synthetic person (quick), 0.02 and 0.15 scored the same
    (input 27.8 dB, yaw -20 / +20 17.2 / 16.9 dB); 0.15 carried the hair colour further back."""
    fill_reach: int = 24
    """How far (texels of the colour residual) the push-pull fill reaches from well-seen texels,
    fading to the generator's colour at twice that."""
    gate_scale: float = 1e4
    """A texel may change in proportion to how well the photo sees it or its mirror image,
    times this (clamped to 1); not at all where neither is seen. On a default-model person
    inverted in 4 steps (input view / camera yaw 20 deg, PSNR against its own renders, 40 steps):
    4 -> 25.5 / 19.6 dB, 100 -> 29.8 / 20.3, 1e4 (every texel a pixel reads, or its mirror's)
    31.3 / 20.8, no gate 33.2 / 19.3 (from 17.8 / 16.9 inverted)."""


@dataclasses.dataclass
class MapTuning:
    """The quantised residual and the loss of each step (photo terms only)."""

    residual: MapResidual
    losses: list[float]
    seen: torch.Tensor
    """[L, 1, S, S] how well the photo sees each colour texel, in [0, 1]."""


def _image(x: torch.Tensor, side: int) -> torch.Tensor:
    return x.view(x.shape[0], side, side, -1).permute(0, 3, 1, 2)


def _tv(t: torch.Tensor) -> torch.Tensor:
    return (t[..., 1:, :] - t[..., :-1, :]).abs().mean() + (t[..., :, 1:] - t[..., :, :-1]).abs().mean()


def _fill(res: torch.Tensor, weight: torch.Tensor, levels: int = 6) -> torch.Tensor:
    """``res`` [N, C, H, W] extended from where ``weight`` [N, 1, H, W] > 0 into the rest: a
    push-pull pyramid (each coarser level the weighted mean of the finer one; holes read the
    finest level that has data). Written here because it is a few lines of pooling; OpenCV's
    inpainting takes 8-bit images only, and the residual is signed."""
    pyr = [(res * weight, weight)]
    for _ in range(levels):
        rw, w = pyr[-1]
        pyr.append((F.avg_pool2d(rw, 2), F.avg_pool2d(w, 2)))
    rw, w = pyr[-1]
    out = rw / w.clamp_min(1e-8)
    for rw, w in reversed(pyr[:-1]):
        up = F.interpolate(out, size=rw.shape[-2:], mode="bilinear", align_corners=False)
        have = (w > 0).to(rw.dtype)
        out = have * rw / w.clamp_min(1e-8) + (1 - have) * up
    return out


def _normalised(seen: torch.Tensor, reach: int) -> torch.Tensor:
    """How well each texel is seen (summed gradients) -> [0, 1]: the best of a ``reach`` window
    (the render's pixels read texels bilinearly, a few texels apart), over its 95th percentile."""
    seen = F.max_pool2d(seen, reach, stride=1, padding=reach // 2)
    pos = seen[seen > 0]
    scale = torch.quantile(pos[:: max(1, pos.numel() // 100_000)], 0.95) if pos.numel() else seen.new_tensor(1.0)
    return (seen / scale).clamp(0, 1)


def _trust(mask: torch.Tensor, band: float, mouth: torch.Tensor | None) -> torch.Tensor:
    """Where a photo pixel may teach a texel's colour: inside the person with its edge band
    (``band`` of the side) left out, and not in the open mouth. [1, 1, S, S]."""
    t = ((mask - 0.5) / 0.45).clamp(0, 1)
    k = 2 * max(1, round(band * mask.shape[-1])) + 1
    t = -F.max_pool2d(-t, k, stride=1, padding=k // 2)  # erode
    if mouth is not None:
        t = t * (1 - mouth)
    return t


@torch.enable_grad()  # an optimisation: it works under a caller's no_grad too
def tune_maps(pipe, latents, pixels, expression, joint_eulers, camera,
              config: MapTuneConfig | None = None) -> MapTuning:
    """Fit a map residual for the person of ``latents`` (batch 1) so its renders at the photo's
    labels match the photo.

    Args:
        pixels: :class:`~aniportrait_hub.inversion.latents.PhotoPixels`, the photo at its own
            size (portrait crop, person mask, face crop on white, the open mouth's inside);
            labels [1, ...].
    """
    cfg = config or MapTuneConfig()
    if cfg.steps < 0:
        raise ValueError(f"steps must be >= 0, got {cfg.steps}")
    r = pipe.renderer()
    base = dataclasses.replace(latents, map_residual=None)
    cache = pipe.bake_identity(base, truncation_psi=1.0)
    hr_maps = cache.maps_hr.detach()
    n, s = cache.maps_lr.shape[1], cache.maps_lr.shape[-1]
    side, fside = cfg.resolution, cfg.face_resolution
    geo, fgeo = r.view_geometry(cache, expression, joint_eulers, camera, side, fside, pipe.field_grid())

    def fit(x, size):
        return None if x is None else F.interpolate(x.float().reshape(-1, *x.shape[-2:])[None], size=size,
                                                    mode="area")

    m = fit(pixels.mask, side)
    lo, hi = cfg.mask_ramp
    m_opacity = ((m - lo) / (hi - lo)).clamp(0, 1)
    target = fit(pixels.image * pixels.mask + (1 - pixels.mask), side)
    ftarget = fit(pixels.face, fside)
    # The colour terms read only the pixels that show this person's own surface: not the edge
    # band (the mask's blur mixes in the background), not the open mouth, not the render's mouth
    # cavity (whose rays pass texels the closed mouth shows as lips).
    trust = _trust(m, cfg.edge_band, fit(pixels.mouth, side))
    if geo.cavity is not None:
        trust = trust * (1 - _image(geo.cavity.unsqueeze(-1), side))
    ftrust = None
    if ftarget is not None:
        ftrust = 1 - fit(pixels.face_mouth, fside) if pixels.face_mouth is not None else torch.ones(1, 1, fside, fside)
        if fgeo.cavity is not None:
            ftrust = ftrust * (1 - _image(fgeo.cavity.unsqueeze(-1), fside))
    p_rgb = torch.zeros(1, n, 3, 2 * s, 2 * s, requires_grad=True)  # the residual before the gate (below)
    p_alpha = torch.zeros(1, n, 1, s, s, requires_grad=True)
    # Each step shades the maps as a frame does (the residual added as a bake adds it: looked up
    # at its own side and added after the generator's maps' lookup instead, 3x faster, the saved
    # person rendered 4 dB short of what was fitted in the input view).
    views = [(geo, side, trust)] + ([(fgeo, fside, ftrust)] if ftarget is not None else [])

    def maps(rgb, alpha):
        return apply_to_hr(hr_maps, MapResidual(rgb, alpha))

    # How well the photo sees each colour texel: d(render) / d(texel colour), both cameras, over
    # the trusted pixels (``seen``: what may change the colour) and over all pixels (``read``:
    # what may change the opacity, the background's pixels included).
    hr = maps(p_rgb, p_alpha)
    shaded = [_image(r.shade(v, hr).image, sd) for v, sd, _ in views]
    (g,) = torch.autograd.grad(sum((img * w).sum() for img, (_, _, w) in zip(shaded, views)), p_rgb,
                               retain_graph=True)
    (g_read,) = torch.autograd.grad(sum(img.sum() for img in shaded), p_rgb)
    seen = _normalised(g[0].abs().sum(1, keepdim=True), cfg.seen_reach)
    read = _normalised(g_read[0].abs().sum(1, keepdim=True), cfg.seen_reach)
    unseen = 1 - seen
    mirror = seen.flip(-1)  # canonical x -> -x: the maps span a symmetric x range
    sym_w = unseen * mirror
    # Texels seen neither directly nor in the mirror keep the generator's colour exactly (Adam
    # moves every parameter with a gradient at about the same speed, so without the gate the TV
    # term walked the residual out into texels no photo pixel reads)
    gate = (cfg.gate_scale * torch.maximum(seen, mirror)).clamp(0, 1)
    gate_alpha = F.avg_pool2d((cfg.gate_scale * torch.maximum(read, read.flip(-1))).clamp(0, 1), 2)
    base_colour = F.interpolate(hr_maps[0, :, :3], size=2 * s, mode="area") if hr_maps.shape[-1] != 2 * s \
        else hr_maps[0, :, :3]

    opt = torch.optim.Adam([{"params": [p_rgb]}, {"params": [p_alpha], "lr": cfg.lr * cfg.alpha_lr_scale}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / max(1, cfg.steps))))
    losses = []
    for _ in tqdm(range(cfg.steps), desc="tuning the maps", unit="step", leave=False):
        rgb, alpha = gate * p_rgb, gate_alpha * p_alpha
        hr = maps(rgb, alpha)
        out = r.shade(geo, hr)
        loss = (trust * (_image(out.image, side) - target).abs()).mean() \
            + cfg.mask_weight * (_image(out.mask.unsqueeze(-1), side) - m_opacity).abs().mean()
        if ftarget is not None:
            loss = loss + cfg.face_weight * (ftrust * (_image(r.shade(fgeo, hr).image, fside) - ftarget).abs()).mean()
        colour = base_colour + rgb[0]
        reg = cfg.prior_weight * (unseen * rgb[0].pow(2)).mean() + cfg.tv_weight * (_tv(rgb) + _tv(alpha))
        if cfg.symmetry_weight > 0:
            reg = reg + cfg.symmetry_weight * (sym_w * (colour - colour.flip(-1).detach()).abs()).mean()
        opt.zero_grad(set_to_none=True)
        (loss + reg).backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            p_rgb.clamp_(-1, 1)
            p_alpha.clamp_(-1, 1)
        losses.append(float(loss.detach()))
    with torch.no_grad():
        rgb = gate * p_rgb
        # Texels near well-seen ones but not well seen themselves (the silhouette's edge band and
        # the open mouth, seen only through left-out pixels; grazing views; unseen texels beside
        # seen ones: the sides of the hair) take their neighbours' residual, fading out over
        # the reach, rather than the generator's own colour: it differs from the tuned skin, hair
        # and clothes around them, and showed as a seam.
        if cfg.fill_below > 0:
            good = (seen >= cfg.fill_below).float()
            k = 2 * cfg.fill_reach + 1
            near = F.avg_pool2d(F.max_pool2d(good, k, stride=1, padding=k // 2), k, stride=1, padding=k // 2,
                                count_include_pad=False)
            fill = near * (1 - good)
            rgb = rgb * (1 - fill) + fill * _fill(rgb[0], good)[None]
        res = MapResidual(rgb.clamp(-1, 1), gate_alpha * p_alpha)
    return MapTuning(res.quantised(), losses, seen.detach())
