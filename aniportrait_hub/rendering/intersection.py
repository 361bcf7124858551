"""Ray-manifold intersection (GRAM; METHOD.md 1.3).

Along each ray, s is known at S samples (reference: 64 samples, linearly upsampled to 256; a
linear upsampling leaves the piecewise-linear s unchanged, so crossings are found directly on
the S samples by linear interpolation). For each level, the first crossing along the ray where s
passes the level going down is kept; no crossing = invalid.
"""

from __future__ import annotations

import dataclasses

import torch

from aniportrait_hub.host import on_host


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

    Found by a search on the running minimum of the usable samples: the first sample below a
    level is where that minimum first drops below it, and the sample before it, if usable, is
    at or above the level, so the pair is the first downward crossing (our choice: O(S + L log S)
    per ray instead of the O(S L) scan, 0.04 -> ~0.01 s at 128^2 x 32 samples here). Where the
    first usable sample is already below a level (the first crossing then comes after a rise)
    the ray is scanned as before (:func:`find_crossings_scan`).
    """
    n = s.shape[-1]
    big = torch.finfo(s.dtype).max
    su = s if usable is None else torch.where(usable, s, torch.full_like(s, big))
    run_min = torch.cummin(su, -1).values  # non-increasing along the ray
    lv = levels.to(s.dtype)
    # first j with run_min[j] < level  <=>  -run_min[j] > -level
    first = torch.searchsorted(-run_min.contiguous(), (-lv).expand(*s.shape[:-1], -1).contiguous(), right=True)
    found = first < n
    prev = (first - 1).clamp(min=0)
    prev_ok = first >= 1
    if usable is not None:
        prev_ok = prev_ok & torch.gather(usable, 2, prev)
    bad = (found & ~prev_ok).any(-1)  # [B, R] rays to scan
    valid = found & prev_ok
    index = torch.where(valid, prev, torch.zeros_like(prev))
    sa = torch.gather(s, 2, index)
    sb = torch.gather(s, 2, (index + 1).clamp(max=n - 1))
    frac = ((sa - lv) / (sa - sb).clamp_min(1e-12)).clamp(0, 1)
    frac = torch.where(valid, frac, torch.zeros_like(frac))
    if not on_host(s):  # no host decision: every ray scanned, taken where the search cannot tell
        scan = find_crossings_scan(s, levels, usable)
        bad = bad.unsqueeze(-1)
        return Crossings(torch.where(bad, scan.index, index), torch.where(bad, scan.frac, frac),
                         torch.where(bad, scan.valid, valid))
    if bool(bad.any()):
        if bad.float().mean() > 0.25:  # e.g. an untrained M: scanning everything is cheaper
            return find_crossings_scan(s, levels, usable)
        bb, rr = bad.nonzero(as_tuple=True)
        sub = find_crossings_scan(s[bb, rr].unsqueeze(0), levels, None if usable is None else usable[bb, rr].unsqueeze(0))
        # out of place (frac is differentiable)
        index = index.index_put((bb, rr), sub.index[0])
        valid = valid.index_put((bb, rr), sub.valid[0])
        frac = frac.index_put((bb, rr), sub.frac[0])
    return Crossings(index, frac, valid)


def find_crossings_scan(s: torch.Tensor, levels: torch.Tensor, usable: torch.Tensor | None = None) -> Crossings:
    """:func:`find_crossings` by scanning every (level, sample interval) pair."""
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
