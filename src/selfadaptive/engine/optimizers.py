"""Optimisers from config: SGD, Adam, and LARS (You, Gitman & Ginsburg, 2017), the large-batch optimiser of BYOL and SimCLR."""
from __future__ import annotations

import torch

from ..errors import UserError


class LARS(torch.optim.Optimizer):
    r"""SGD with momentum whose step is scaled per parameter tensor by a trust ratio.

    For a weight tensor w with gradient g (weight decay wd, trust coefficient eta):

        d     = g + wd * w
        ratio = eta * ||w|| / ||d||      (1 when ||w|| or ||d|| is 0)
        v    <- momentum * v + lr * ratio * d
        w    <- w - v

    Tensors with one dimension (biases, batch-norm scales and shifts) skip both the weight decay
    and the adaptation (ratio 1), as BYOL does.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001):
        if lr <= 0 or eta <= 0:
            raise ValueError(f"lr and eta must be > 0, got {lr}, {eta}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                d = w.grad
                ratio = 1.0
                if w.dim() > 1:
                    d = d.add(w, alpha=group["weight_decay"])
                    w_norm, d_norm = w.norm(), d.norm()
                    ratio = torch.where((w_norm > 0) & (d_norm > 0), group["eta"] * w_norm / d_norm,
                                        torch.ones_like(w_norm))
                state = self.state[w]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(w)
                v = state["velocity"]
                v.mul_(group["momentum"]).add_(d * (group["lr"] * ratio))
                w.sub_(v)
        return loss


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "lars":
        from ..engine.optimizers import LARS
        return LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, eta=cfg.eta)
    raise UserError(f"unknown optim.name {cfg.name!r}; choose sgd, adam or lars")
