"""GAN losses (METHOD.md 1.6): non-saturating logistic loss and the R1 penalty per discriminator.

R1 is computed with ``torch.autograd.grad(..., create_graph=True)`` and added to the
discriminator loss, so each step runs ONE backward of the summed loss (separate backwards
desynchronise DDP ranks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The discriminators, the image each one sees ("image" = the portrait) and its loss weight field.
DISCRIMINATORS = (("whole", "image", "w_whole"), ("face", "face", "w_face"), ("torso", "image", "w_torso"))


class NonFiniteLoss(RuntimeError):
    """A loss term became NaN or infinite; names the step and the term."""


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(D(fake)) + softplus(-D(real)), batch mean."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(-D(G(z))), batch mean."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_input: torch.Tensor) -> torch.Tensor:
    """E ||d D(x) / d x||^2 over the batch (not yet times gamma / 2), differentiable in D's
    parameters (create_graph=True)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_input, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class FiniteWatch:
    """Remembers, on the device, the first step at which each loss term was not finite, so the
    trainer reads it only when it reads its logs (a check per step made the host wait for the
    device every step). :meth:`check` raises :class:`NonFiniteLoss` for the earliest."""

    def __init__(self):
        self.first: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def watch(self, terms: dict[str, torch.Tensor], step: int) -> None:
        for name, value in terms.items():
            v = value.detach().float().reshape(())
            seen, val = self.first.get(name, (None, None))
            if seen is None:
                seen, val = torch.full((), -1, dtype=torch.long, device=v.device), torch.zeros((), device=v.device)
            new = ~torch.isfinite(v) & (seen < 0)
            self.first[name] = (torch.where(new, torch.full_like(seen, step), seen), torch.where(new, v, val))

    def check(self) -> None:
        if not self.first:
            return
        names = list(self.first)
        steps = torch.stack([self.first[n][0] for n in names]).tolist()  # one read for all terms
        bad = [(s, i) for i, s in enumerate(steps) if s >= 0]
        if bad:
            step, i = min(bad)
            value = self.first[names[i]][1].item()
            raise NonFiniteLoss(f"step {step}: loss term '{names[i]}' is {value}; stopping (the last good "
                                "checkpoint is kept)")

