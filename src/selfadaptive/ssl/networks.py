"""The networks of BYOL-style self-supervised learning: encoder, projector, predictor, momentum target."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


def mlp_head(in_dim: int, hidden: int, out_dim: int, norm: bool = True) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Linear, BYOL's projector and predictor (``norm=False`` drops
    the batch norm, whose per-process statistics are the one thing data parallelism changes)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden) if norm else nn.Identity(),
                         nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class SiameseNetwork(nn.Module):
    """Online encoder + projector + predictor, and optionally a momentum copy of encoder + projector.

    ``net(x)`` -> (q, z), each (B, D): the prediction and the online projection it was made from.
    ``targets(x, z)`` -> the target projection, without gradient: from the momentum network when
    there is one (``target_momentum > 0``), otherwise the online projection ``z`` of the same pass
    detached (SimSiam's stop-gradient, at no extra forward pass).
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, dim: int = 128, hidden: int = 512,
                 target_momentum: float = 0.99, head_norm: bool = True):
        super().__init__()
        self.encoder = encoder
        self.projector = mlp_head(feature_dim, hidden, dim, head_norm)
        self.predictor = mlp_head(dim, hidden, dim, head_norm)
        self.target_momentum = float(target_momentum)
        if self.target_momentum > 0:
            self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projector(self.encoder(x))
        return self.predictor(z), z

    @torch.no_grad()
    def targets(self, x: torch.Tensor, z_online: torch.Tensor) -> torch.Tensor:
        if self.target_momentum > 0:
            return self.target_projector(self.target_encoder(x))
        return z_online.detach()

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """theta_target <- tau * theta_target + (1 - tau) * theta_online (buffers are copied)."""
        if self.target_momentum <= 0:
            return
        for online, target in ((self.encoder, self.target_encoder), (self.projector, self.target_projector)):
            for p_o, p_t in zip(online.parameters(), target.parameters()):
                p_t.mul_(tau).add_(p_o.detach(), alpha=1.0 - tau)
            for b_o, b_t in zip(online.buffers(), target.buffers()):
                b_t.copy_(b_o)


def target_momentum_at(step: int, total_steps: int, base: float) -> float:
    """BYOL's schedule: tau = 1 - (1 - base) * (cos(pi * step / total) + 1) / 2, rising from base to 1."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / max(1, total_steps)) + 1.0) / 2.0
