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


def check_finite(terms: dict[str, torch.Tensor], step: int) -> None:
    """Raise :class:`NonFiniteLoss` naming the first non-finite term."""
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise NonFiniteLoss(f"step {step}: loss term '{name}' is {value.item()}; stopping (the last good "
                                "checkpoint is kept)")
