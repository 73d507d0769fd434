"""Self-supervised SAT (sat-reference §6): regress onto a per-sample target bank in representation space."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import functional as SF
from ..distributed import local_mean, local_rows
from .base import host_bank


class SelfAdaptiveSSLLoss(nn.Module):
    r"""SAT without labels: every sample i keeps a unit target t_i of dimension D.

    For a batch with views 1 and 2 of samples idx at epoch e (counted from 0), with online
    predictions q1, q2 and stop-gradient target projections z1, z2 (B, D):

      zbar_i = normalise(z1_i + z2_i)                     (both views' evidence about sample i)

    * e < E_s:  t_i <- zbar_i (the bank follows the projections), and the loss is BYOL's:
                mean_i (2 - 2 cos(q1_i, z2_i)) + (2 - 2 cos(q2_i, z1_i))
    * e >= E_s: t_i <- normalise(alpha * t_i + (1 - alpha) * zbar_i)      (update first)
                loss = mean_i (2 - 2 cos(q1_i, t_i)) + (2 - 2 cos(q2_i, t_i))

    so each view is pulled toward a running average of the sample's representation across
    epochs rather than toward one augmented view.  The bank ``soft_targets`` (N, D) starts at zero;
    before E_s every row seen is overwritten with zbar_i, so with E_s >= 1 each row holds a real
    projection when the average starts (with E_s = 0 the first update gives
    normalise((1 - alpha) * zbar_i) = zbar_i).

    Args:
        num_samples: N; dim: D; momentum: alpha; start_epoch: E_s; bank_dtype: storage dtype.
    """

    bank_name = "soft_targets"
    reduce = staticmethod(local_mean)
    gather = staticmethod(local_rows)

    def __init__(self, num_samples: int, dim: int, momentum: float = 0.9, start_epoch: int = 0,
                 bank_dtype: torch.dtype = torch.float32):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.start_epoch = int(start_epoch)
        self.register_buffer("soft_targets", torch.zeros(int(num_samples), int(dim), dtype=bank_dtype))

    def forward(self, q1: torch.Tensor, q2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                index: torch.Tensor, epoch: int) -> torch.Tensor:
        z1, z2 = z1.detach().float(), z2.detach().float()
        zbar = F.normalize(z1 + z2, dim=1)
        all_index, all_z, own = self.gather(index, zbar)       # every rank applies every update
        if epoch < self.start_epoch:
            SF.store_rows(self.soft_targets, all_index, all_z)
            return self.reduce(SF.cosine_regression(q1, z2) + SF.cosine_regression(q2, z1))
        new = SF.normalized_ema_update(SF.bank_rows(self.soft_targets, all_index), all_z, self.momentum)
        SF.store_rows(self.soft_targets, all_index, new)
        t = new[own]
        return self.reduce(SF.cosine_regression(q1, t) + SF.cosine_regression(q2, t))

    def bank(self) -> torch.Tensor:
        return self.soft_targets

    def keep_bank_on_host(self) -> None:
        """``loss.bank_device=cpu``: keep the (N, D) bank in (pinned) host memory, off the GPU; rows
        travel per batch.  Call after ``.to(device)``, which would move it back."""
        self.soft_targets = host_bank(self.soft_targets)

    def extra_repr(self) -> str:
        n, d = self.soft_targets.shape
        return f"N={n}, D={d}, momentum={self.momentum}, start_epoch={self.start_epoch}, bank_dtype={self.soft_targets.dtype}"
