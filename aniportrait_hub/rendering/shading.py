"""Shading a frame's intersections from the baked maps: dense (every ray, every level) and
sparse (looked up only where the low-resolution weights say a level is seen), with the mouth
interior's tint (:attr:`~.settings.RenderSettings.mouth_cavity`)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from aniportrait_hub.fields.radiance import window_grid
from aniportrait_hub.host import on_host
from aniportrait_hub.rendering.baking import lookup_maps
from aniportrait_hub.rendering.compositing import Composite, composite, in_depth_order
from aniportrait_hub.rendering.geometry import Geometry


class MapShading:
    """Map lookup and compositing of :class:`~aniportrait_hub.rendering.renderer.PortraitRenderer`
    (a mixin over its ``settings``)."""

    def shade(self, geo: Geometry, maps: torch.Tensor):
        """Map lookup at the intersections and compositing -> ``Composite`` over [B, R]."""
        st = self.settings
        rgba = lookup_maps(maps, geo.xy, st.map_x_range, st.map_y_range)  # [B, R, L, 4]
        cover = geo.valid.to(rgba.dtype)
        return self._tint_cavity(composite(rgba[..., :3], rgba[..., 3] * cover, geo.dist, cover > 0), geo.cavity)

    def _tint_cavity(self, comp: Composite, cavity: torch.Tensor | None) -> Composite:
        """The colour of the mouth interior's rays times :attr:`RenderSettings.mouth_cavity`
        (the white background's share, ``1 - mask``, is left white)."""
        tint = self.settings.mouth_cavity
        if cavity is None or tint is None:
            return comp
        c = (cavity * comp.mask).unsqueeze(-1)
        fg = comp.image - (1 - comp.mask).unsqueeze(-1)
        scale = 1 - c * (1 - comp.image.new_tensor(tint))
        return dataclasses.replace(comp, image=fg * scale + (1 - comp.mask).unsqueeze(-1))

    def shade_upsampled(self, geo: Geometry, maps: torch.Tensor, resolution: int) -> Composite:
        """Dense shading of ``geo`` upsampled to ``resolution`` (every ray, every level)."""
        return self.shade(geo if geo.resolution == resolution else geo.upsample(resolution), maps)

    def shade_sparse(self, geo: Geometry, weights: torch.Tensor, maps: torch.Tensor, resolution: int) -> Composite:
        """``maps`` at ``resolution`` from intersections found at ``geo``'s resolution, looked up
        only where the low-resolution weights say a level is seen
        (``RenderSettings.shading_weight_floor``).

        Equals ``shade(geo.upsample(resolution), maps)`` up to the dropped pairs' weight (the
        background depth is the farthest low-resolution intersection): level by level, each
        level's selected pixels get their upsampled intersection (``grid_sample`` of the
        low-resolution geometry, the same bilinear weights as ``F.interpolate``) and their map
        lookup, and are composited into running per-pixel transmittances. That needs every
        ray's levels in depth order; where some ray's are not, the dense path runs instead.

        Args: geo at resolution h; weights [B, h*h, L] of its low-resolution composite; maps
            [B, L, C >= 4, H, W]. Returns: :class:`Composite` over [B, resolution^2].
        """
        st = self.settings
        if not on_host(weights) or not in_depth_order(geo.dist, geo.valid):
            # the sparse lookups size their work on the host (a nonzero per level); a device
            # shades every ray instead
            return self.shade_upsampled(geo, maps, resolution)
        b, _, n_lv = geo.valid.shape
        h, res = geo.resolution, resolution
        keep = (weights > st.shading_weight_floor).view(b, h, h, n_lv).permute(0, 3, 1, 2).to(weights.dtype)
        if res != h:  # the bilinear upsampling reads the 2 x 2 geometry pixels around a ray
            keep = F.max_pool2d(keep, 3, 1, 1)
        dev, dt = geo.xy.device, geo.xy.dtype
        # Each output pixel inherits the selection of the geometry pixel containing its centre.
        src = (((torch.arange(res, device=dev) + 0.5) * h) // res).long()
        keep = (keep[:, :, src][:, :, :, src] > 0).contiguous()  # [B, L, res, res]
        v = geo.valid.to(dt).unsqueeze(-1)
        planes = torch.cat([geo.xy * v, geo.dist.unsqueeze(-1) * v, v], -1)  # [B, h*h, L, 4]
        planes = planes.view(b, h, h, n_lv, 4).permute(0, 3, 4, 1, 2).contiguous()  # [B, L, 4, h, h]
        centres = (torch.arange(res, device=dev, dtype=dt) + 0.5) / res * 2 - 1
        trans = torch.ones(b, res * res, device=dev, dtype=dt)
        image = torch.zeros(b, res * res, 3, device=dev, dtype=dt)
        mask = torch.zeros(b, res * res, device=dev, dtype=dt)
        depth = torch.zeros(b, res * res, device=dev, dtype=dt)
        for i in range(b):
            for lv in range(n_lv):
                ids = keep[i, lv].view(-1).nonzero().squeeze(1)
                if ids.numel() == 0:
                    continue
                grid = torch.stack([centres[ids % res], centres[ids // res]], -1).view(1, 1, -1, 2)
                g = F.grid_sample(planes[i:i + 1, lv], grid, mode="bilinear", padding_mode="border",
                                  align_corners=False)[0, :, 0]  # [4, n]
                cover = g[3]
                safe = cover.clamp_min(1e-6)
                uv = window_grid(g[0] / safe, g[1] / safe, st.map_x_range, st.map_y_range).view(1, 1, -1, 2)
                rgba = F.grid_sample(maps[i:i + 1, lv, :4], uv, mode="bilinear", padding_mode="zeros",
                                     align_corners=True)[0, :, 0]
                t = trans[i, ids]
                a = rgba[3] * cover
                w = t * a
                image[i, ids] += (w * rgba[:3]).T
                mask[i, ids] += w
                depth[i, ids] += w * g[2] / safe
                trans[i, ids] = t * (1 - a)
        far = torch.where(geo.valid, geo.dist, torch.zeros_like(geo.dist)).max()
        return self._tint_cavity(Composite(image + (1 - mask).unsqueeze(-1), depth + (1 - mask) * far, mask),
                                 geo.cavity_at(res))
