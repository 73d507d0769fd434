"""The in-memory training loop under ``SATClassifier`` (no run folder, no checkpoints): ``sat train`` is the
loop with a run folder."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..config import OptimConfig
from ..data import batches, to_float
from ..engine.evaluation import logits_of
from ..engine.optimizers import build_optimizer
from ..engine.schedules import epoch_order, learning_rate
from ..issues import LabelIssueTracker
from ..losses.warm_up import WarmUp


def fit_network(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, *, epochs: int, lr: float,
                optimizer: str = "adam", weight_decay: float = 0.0, batch_size: int = 64, seed: int = 0,
                augment: Callable | None = None, tracker: LabelIssueTracker | None = None,
                on_epoch_end: Callable[[int, nn.Module], None] | None = None) -> list[dict]:
    """Train ``model`` in place on ``x`` (N, ...) and labels ``y`` (N,), cosine schedule per epoch.

    ``loss_fn`` is an ``IndexedLoss`` (``loss(logits, y, index, epoch)``); inputs stay on the
    device of ``model``.  ``on_epoch_end(epoch, model)`` runs after every epoch (for snapshots).
    Returns one dict per epoch (train loss and accuracy).
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    opt = build_optimizer(OptimConfig(name=optimizer, lr=lr, momentum=0.9, weight_decay=weight_decay), model)
    history = []
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = learning_rate(epoch, lr, epochs, "cosine")
        if (warm_up := WarmUp.within(loss_fn)) is not None:    # start_epoch="auto" reads the schedule
            warm_up.observe_learning_rate(epoch, opt.param_groups[0]["lr"])
        model.train()
        order = epoch_order(len(y), seed, epoch)
        loss_sum, correct = 0.0, 0
        for idx in batches(len(y), batch_size, order):
            idx = idx.to(device)
            xb = to_float(x[idx])
            if augment is not None:
                xb = augment(xb)
            logits = model(xb)
            loss = loss_fn(logits, y[idx], idx, epoch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.detach().argmax(1) == y[idx]).sum())
        if tracker is not None and loss_fn.bank() is not None:
            tracker.update(loss_fn.bank(), epoch)
        history.append({"epoch": epoch, "train_loss": loss_sum / len(y), "train_acc": correct / len(y)})
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return history


def predict_proba_network(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Eval-mode softmax probabilities (N, K) as float64 numpy; restores train/eval mode."""
    logits = logits_of(model, x, next(model.parameters()).device, batch_size)
    return torch.softmax(logits, dim=1).cpu().double().numpy()
