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


def accuracy_on(model: nn.Module, dataset: ArrayDataset | None, device: torch.device, batch_size: int = 1024) -> float | None:
    """Top-1 accuracy of ``model`` on ``dataset`` (None when there is no such split)."""
    if dataset is None or len(dataset) == 0:
        return None
    return SF.accuracy(predict_logits(model, dataset, device, batch_size).cpu(), dataset.y)
