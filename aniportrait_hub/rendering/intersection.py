"""Ray-manifold intersection (GRAM; METHOD.md 1.3).

Along each ray, s is known at S samples (reference: 64 samples, linearly upsampled to 256; a
linear upsampling leaves the piecewise-linear s unchanged, so crossings are found directly on
the S samples by linear interpolation). For each level, the first crossing along the ray where s
passes the level going down is kept; no crossing = invalid.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class Crossings:
    """Per ray and level: the bracketing sample ``index`` [B, R, L] (long), the interpolation
    weight ``frac`` [B, R, L] toward the next sample, and ``valid`` [B, R, L] (bool)."""

    index: torch.Tensor
    frac: torch.Tensor
    valid: torch.Tensor

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """Linearly interpolate per-sample ``values`` [B, R, S, C] at the crossings -> [B, R, L, C]."""
        b, r, s, c = values.shape
        idx = self.index.clamp(max=s - 2)
        lo = torch.gather(values, 2, idx.unsqueeze(-1).expand(-1, -1, -1, c))
        hi = torch.gather(values, 2, (idx + 1).unsqueeze(-1).expand(-1, -1, -1, c))
        return lo + self.frac.unsqueeze(-1) * (hi - lo)


def find_crossings(s: torch.Tensor, levels: torch.Tensor, usable: torch.Tensor | None = None) -> Crossings:
    """First downward crossing of each level.

    Args:
        s: [B, R, S] the scalar field at S ordered samples along each ray.
        levels: [L].
        usable: optional [B, R, S] mask; a crossing needs both bracketing samples usable
            (samples skipped as empty space never create crossings at the mask's border).
    Returns:
        :class:`Crossings`.
    """
    n = s.shape[-1]
    a, b = s[..., None, :-1], s[..., None, 1:]  # [B, R, 1, S-1]
    lv = levels.view(1, 1, -1, 1)
    hit = (a >= lv) & (b < lv)  # [B, R, L, S-1]: samples last, so the search is contiguous
    if usable is not None:
        hit = hit & (usable[..., :-1] & usable[..., 1:]).unsqueeze(-2)
    # First hit: the smallest sample index that hits (n where none).
    idx = torch.arange(n - 1, device=s.device, dtype=torch.int16 if n < 32768 else torch.int32)
    first = torch.where(hit, idx, n).amin(dim=-1).long()  # [B, R, L]
    valid = first < n
    index = torch.where(valid, first, torch.zeros_like(first))
    sa = torch.gather(s, 2, index)
    sb = torch.gather(s, 2, (index + 1).clamp(max=s.shape[-1] - 1))
    frac = ((sa - levels) / (sa - sb).clamp_min(1e-12)).clamp(0, 1)
    return Crossings(index, torch.where(valid, frac, torch.zeros_like(frac)), valid)
