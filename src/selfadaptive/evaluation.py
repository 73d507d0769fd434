"""Inference helpers shared by the trainer and ``sat eval``."""
from __future__ import annotations

import torch
from torch import nn

from . import functional as SF
from .data import ArrayDataset, batches, to_float


@torch.no_grad()
def predict_logits(model: nn.Module, dataset: ArrayDataset, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """Eval-mode logits (N, K) on ``device`` for every sample of ``dataset``; restores the train/eval mode."""
    was_training = model.training
    model.eval()
    x = dataset.x
    out = [model(to_float(x[idx].to(device, non_blocking=True))).float() for idx in batches(len(dataset), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, device=device)


def accuracy_on(model: nn.Module, dataset: ArrayDataset | None, device: torch.device, batch_size: int = 1024,
                num_classes: int | None = None) -> float | None:
    """Top-1 accuracy of ``model`` on ``dataset`` (None when there is no such split).

    With ``num_classes`` K only the first K outputs vote (an abstaining network has K + 1).
    """
    if dataset is None or len(dataset) == 0:
        return None
    logits = predict_logits(model, dataset, device, batch_size).cpu()
    return SF.accuracy(logits[:, :num_classes] if num_classes else logits, dataset.y)


def evaluate_on(model: nn.Module, dataset: ArrayDataset | None, device: torch.device, batch_size: int,
                num_classes: int, selective: bool = False) -> dict | None:
    """``{"acc": ...}`` (and ``"aurc"`` for selective tasks) from one pass over ``dataset``; None without it."""
    if dataset is None or len(dataset) == 0:
        return None
    logits = predict_logits(model, dataset, device, batch_size).float().cpu()
    out = {"acc": SF.accuracy(logits[:, :num_classes], dataset.y)}
    if selective:
        from .selective import aurc, selective_outputs
        pred, confidence = selective_outputs(logits.numpy(), num_classes)
        out["aurc"] = aurc(confidence, pred == dataset.y.numpy())
    return out
