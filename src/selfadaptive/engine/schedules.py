"""Schedules as pure functions of the epoch: the learning rate (stepped once per epoch, as in the
paper), per-epoch seeds, and SAT's width rescaling for model-wise sweeps."""
from __future__ import annotations

import math


def learning_rate(epoch: int, base_lr: float, epochs: int, schedule: str = "cosine",
                  milestones: tuple[int, ...] = (), gamma: float = 0.1, warmup_epochs: int = 0) -> float:
    """The learning rate for ``epoch`` (counted from 0).

    * ``cosine``: ``base * (1 + cos(pi * e / epochs)) / 2`` -- CosineAnnealingLR(T_max=epochs),
      stepped per epoch;
    * ``step``: ``base * gamma ** (number of milestones <= e)``;
    * ``constant``: ``base``.

    With ``warmup_epochs = W > 0`` the first W epochs ramp linearly: ``base * (e + 1) / W``.
    """
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    if schedule == "step":
        return base_lr * gamma ** sum(1 for m in milestones if epoch >= m)
    if schedule == "constant":
        return base_lr
    raise ValueError(f"unknown schedule {schedule!r}")


def optim_learning_rate(optim, epoch: int) -> float:
    """``learning_rate`` for an ``OptimConfig``."""
    return learning_rate(epoch, optim.lr, optim.epochs, optim.schedule, optim.milestones, optim.gamma, optim.warmup_epochs)


def epoch_order(n: int, seed: int, epoch: int):
    """The shuffled order (n,) of ``epoch``: a pure function of (seed, epoch), so a resumed epoch
    (and every rank of a data-parallel run) replays it exactly."""
    import torch
    return torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the data order of ``epoch``: a pure function, so a resumed run sees the same order."""
    return (seed * 1_000_003 + epoch * 7919 + 12345) % (2**63)


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of the per-step draws keyed on the global batch (adversarial random starts)."""
    return (epoch_seed(seed, epoch) * 1_000_033 + step * 104_729 + 1) % (2**63)


def rescale_for_width(momentum: float, start_epoch: int, width: int, reference_width: int) -> tuple[float, int]:
    """SAT's (alpha, E_s) for a model of ``width`` when they were tuned at ``reference_width``.

    Narrow networks learn more slowly and wide ones memorise sooner, so one (alpha, E_s) does not
    suit a whole width sweep (the paper rescales both by width in its double-descent study; its
    text gives no formula).  Our rule stretches SAT's clock by ``r = reference_width / width``:

        E_s(width)   = round(E_s * r)
        alpha(width) = alpha ** (1 / r)

    so the EMA's time constant ``1 / (1 - alpha)`` and the start epoch both scale by about r, and
    ``width == reference_width`` leaves them unchanged.
    """
    if width <= 0 or reference_width <= 0:
        raise ValueError(f"widths must be > 0, got width={width}, reference_width={reference_width}")
    r = reference_width / width
    return momentum ** (1.0 / r), int(round(start_epoch * r))
