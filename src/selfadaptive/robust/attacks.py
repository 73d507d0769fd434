"""L-inf attacks on models that take inputs in [0, 1] (normalisation lives inside the model).

Every attack returns a detached ``x_adv`` of the shape of ``x`` (B, ...) with
``|x_adv - x|_inf <= eps`` and ``0 <= x_adv <= 1``.  Gradients are taken with respect to the input
only (``torch.autograd.grad``), so the parameters' ``.grad`` is never touched, and the model is run
in eval mode (BN running statistics, no dropout) and handed back in the mode it came in.

* ``fgsm``: x' = clip(x + eps * sign(grad_x CE(f(x), y))), one step, no random start.
* ``pgd``: random start in the ball (uniform, or TRADES's x + 0.001 N(0, 1)), then ``steps`` times
  x' <- Proj_{B(x, eps) and [0,1]}(x' + step_size * sign(grad_x' L)), with L the cross-entropy
  (Madry et al.) or KL(p(x) || p(x')) (TRADES, where p(x) is the clean prediction).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.evaluation import eval_mode

OBJECTIVES = ("ce", "kl")
RANDOM_STARTS = ("uniform", "normal", "none")
#: TRADES starts its training attack at x + 0.001 * N(0, 1)
NORMAL_START_STD = 0.001


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """The point of {x' : |x' - x|_inf <= eps, 0 <= x' <= 1} nearest to ``x_adv`` (coordinate-wise)."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def attack_loss(logits_adv: torch.Tensor, y: torch.Tensor | None, clean_probs: torch.Tensor | None,
                objective: str) -> torch.Tensor:
    """The summed quantity an attack ascends: CE(f(x'), y) or KL(p(x) || p(x'))."""
    if objective == "ce":
        return F.cross_entropy(logits_adv.float(), y, reduction="sum")
    return F.kl_div(F.log_softmax(logits_adv.float(), dim=1), clean_probs, reduction="sum")


def _check(x: torch.Tensor, eps: float) -> None:
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if x.is_floating_point() and x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("attacks expect inputs in [0, 1]; normalise inside the model, not before the attack")


def random_start(x: torch.Tensor, eps: float, kind: str, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
    """A starting point in the eps-ball (and [0, 1]) around ``x``.

    ``noise`` (shape of x) replaces the draw: U(-1, 1) for "uniform", N(0, 1) for "normal", before
    scaling; the trainer keys it on the global batch so that every process count draws alike.
    """
    if kind == "none":
        return x.clone()
    if kind not in ("uniform", "normal"):
        raise ValueError(f"random start must be one of {RANDOM_STARTS}, got {kind!r}")
    if noise is None:
        draw = torch.rand if kind == "uniform" else torch.randn
        noise = draw(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        noise = noise * 2 - 1 if kind == "uniform" else noise
    scale = eps if kind == "uniform" else NORMAL_START_STD
    return project_linf(x + noise.to(x.dtype) * scale, x, eps)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, eps: float = 8 / 255,
        step_size: float = 2 / 255, steps: int = 10, start: str = "uniform", objective: str = "ce",
        generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Projected gradient ascent under L-inf.

    Args:
        model: maps (B, ...) inputs in [0, 1] to (B, K) logits.
        x: (B, ...) clean inputs in [0, 1].
        y: (B,) labels; needed for ``objective="ce"``.
        objective: "ce" (Madry's PGD) or "kl" (TRADES: KL of the adversarial from the clean prediction).
        start: "uniform" in the ball, "normal" (x + 0.001 N(0,1), TRADES) or "none".
        generator: seeds the random start (default: the global RNG).
        noise: the random start's unscaled draw itself (see ``random_start``), instead of a generator.

    Returns: (B, ...) detached adversarial inputs.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "ce" and y is None:
        raise ValueError("objective='ce' needs labels y")
    _check(x, eps)
    x = x.detach()
    with eval_mode(model):
        clean_probs = None
        if objective == "kl":
            with torch.no_grad():
                clean_probs = F.softmax(model(x).float(), dim=1)
        x_adv = random_start(x, eps, start, generator, noise)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                loss = attack_loss(model(x_adv), y, clean_probs, objective)
                (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = project_linf(x_adv.detach() + step_size * grad.sign(), x, eps)
    return x_adv.detach()


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255) -> torch.Tensor:
    """The fast gradient sign method: one step of size eps from ``x`` (no random start). (B, ...) -> (B, ...)."""
    return pgd(model, x, y, eps=eps, step_size=eps, steps=1, start="none", objective="ce")
