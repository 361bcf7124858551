"""A person's own appearance on top of the generator's: a residual on an identity's radiance maps.

M is unconditioned and each manifold is a height field over canonical (x, y), so a person's whole
appearance is their radiance maps (:class:`~aniportrait_hub.rendering.renderer.IdentityCache`).
A photo's pixels reach the maps as a residual (:mod:`aniportrait_hub.inversion.maps` fits it):
colour at twice the baked maps' side, added to the super-resolved maps (bilinear) and to the
baked ones (area), and opacity at the baked maps' side, added to both. The residual travels with
the person's latents (:attr:`~aniportrait_hub.pipelines.pipeline.PortraitLatents.map_residual`),
so every bake of that person (commands, app, ``from_pretrained``) draws it, and nobody else.

It is kept quantised to 8 bits (steps of 1/127 in [-1, 1]): what is fitted is what is saved, so
a saved person loads back bit for bit, and its file is two PNG atlases (lossless; the residual is
zero wherever the photo does not reach, which PNG stores in almost nothing).
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import torch
import torch.nn.functional as F

#: Quantisation step of a residual (8 bits over [-1, 1]).
STEP = 1.0 / 127.0


@dataclasses.dataclass
class MapResidual:
    """``rgb`` [B, L, 3, S, S] added to the colour, ``alpha`` [B, L, 1, s, s] to the opacity
    (s: the baked maps' side, S = 2 s)."""

    rgb: torch.Tensor
    alpha: torch.Tensor

    def to(self, device) -> MapResidual:
        return MapResidual(self.rgb.to(device), self.alpha.to(device))

    def expand(self, batch: int) -> MapResidual:
        return MapResidual(self.rgb.expand(batch, *self.rgb.shape[1:]), self.alpha.expand(batch, *self.alpha.shape[1:]))

    def quantised(self) -> MapResidual:
        """Rounded to :data:`STEP` in [-1, 1] (the form that is stored)."""
        def q(t):
            return (t.detach().float().clamp(-1, 1) / STEP).round() * STEP

        return MapResidual(q(self.rgb), q(self.alpha))

    def check(self, levels: int, side: int) -> None:
        """Raise ValueError unless it fits maps of ``levels`` levels baked at ``side``."""
        b = self.rgb.shape[0]
        if tuple(self.rgb.shape) != (b, levels, 3, 2 * side, 2 * side) or \
                tuple(self.alpha.shape) != (b, levels, 1, side, side):
            raise ValueError(f"the map residual must be rgb [B, {levels}, 3, {2 * side}, {2 * side}] and alpha "
                             f"[B, {levels}, 1, {side}, {side}] for this model, got {list(self.rgb.shape)} and "
                             f"{list(self.alpha.shape)}")
        if not (torch.isfinite(self.rgb).all() and torch.isfinite(self.alpha).all()):
            raise ValueError("the map residual holds NaN or infinite values")


def apply_map_residual(maps_lr: torch.Tensor, maps_hr: torch.Tensor,
                       res: MapResidual) -> tuple[torch.Tensor, torch.Tensor]:
    """The baked [B, L, 4 + F, s, s] and super-resolved [B, L, 4, H, W] maps with the residual
    added (colour and opacity kept in [0, 1]; the features U reads are left alone).
    Differentiable in the residual."""
    return apply_to_lr(maps_lr, res), apply_to_hr(maps_hr, res)


def apply_to_hr(maps_hr: torch.Tensor, res: MapResidual) -> torch.Tensor:
    """The super-resolved maps [B, L, 4, H, W] with the residual added (bilinear), in [0, 1]."""
    b, n, _, hr, _ = maps_hr.shape
    rgb, alpha = res.rgb.flatten(0, 1), res.alpha.flatten(0, 1)
    rgb = rgb if rgb.shape[-1] == hr else F.interpolate(rgb, size=hr, mode="bilinear", align_corners=False)
    alpha = F.interpolate(alpha, size=hr, mode="bilinear", align_corners=False)
    return (maps_hr + torch.cat([rgb, alpha], 1).view(b, n, 4, hr, hr)).clamp(0, 1)


def apply_to_lr(maps_lr: torch.Tensor, res: MapResidual) -> torch.Tensor:
    """The baked maps [B, L, 4 + F, s, s] with the residual added (colour by area), colour and
    opacity in [0, 1], the features as they were."""
    b, n, _, s, _ = maps_lr.shape
    rgb = F.interpolate(res.rgb.flatten(0, 1), size=s, mode="area").view(b, n, 3, s, s)
    rgba = (maps_lr[:, :, :4] + torch.cat([rgb, res.alpha.view(b, n, 1, s, s)], 2)).clamp(0, 1)
    return torch.cat([rgba, maps_lr[:, :, 4:]], 2)


def _atlas(t: torch.Tensor) -> np.ndarray:
    """[L, C, S, S] in steps of :data:`STEP` -> uint8 [rows * S, cols * S, C] (128 = 0)."""
    n, c, s, _ = t.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    q = (t / STEP).round().clamp(-127, 127).to(torch.int16) + 128
    grid = torch.full((rows * cols, c, s, s), 128, dtype=torch.int16)
    grid[:n] = q
    grid = grid.view(rows, cols, c, s, s).permute(0, 3, 1, 4, 2).reshape(rows * s, cols * s, c)
    return grid.numpy().astype(np.uint8)


def _from_atlas(a: np.ndarray, n: int, s: int) -> torch.Tensor:
    rows, cols = a.shape[0] // s, a.shape[1] // s
    c = a.shape[2]
    t = torch.from_numpy(a.astype(np.int16)).view(rows, s, cols, s, c).permute(0, 2, 4, 1, 3).reshape(rows * cols, c, s, s)
    return (t[:n].float() - 128) * STEP


def encode_residual(res: MapResidual) -> dict[str, torch.Tensor]:
    """A residual of one person as two PNG atlases (uint8 byte tensors, for a safetensors file)."""
    from PIL import Image

    out = {}
    for name, t, mode in (("map_residual_rgb", res.rgb[0], "RGB"), ("map_residual_alpha", res.alpha[0], "L")):
        a = _atlas(t.detach().float().cpu())
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if mode == "L" else a, mode).save(buf, format="PNG", optimize=True)
        out[name] = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
        out[name + "_shape"] = torch.tensor(list(t.shape), dtype=torch.int64)
    return out


def decode_residual(tensors: dict[str, torch.Tensor]) -> MapResidual | None:
    """The residual :func:`encode_residual` stored (None when there is none)."""
    from PIL import Image

    if "map_residual_rgb" not in tensors:
        return None
    parts = []
    for name in ("map_residual_rgb", "map_residual_alpha"):
        n, c, s, _ = (int(v) for v in tensors[name + "_shape"])
        with Image.open(io.BytesIO(tensors[name].numpy().tobytes())) as im:
            a = np.asarray(im)
        if a.ndim == 2:
            a = a[..., None]
        if a.shape[2] != c:
            raise ValueError(f"{name} holds {a.shape[2]} channels, expected {c}")
        parts.append(_from_atlas(a, n, s)[None])
    return MapResidual(*parts)
