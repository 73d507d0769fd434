"""Inference helpers shared by the trainer and ``sat eval``."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn

from .. import functional as SF
from ..data import ArrayDataset, batches, read_batches, to_float
from .distributed import Distributed, gather_rows


@contextmanager
def eval_mode(model: nn.Module):
    """Run ``model`` in eval mode inside the block and restore its train/eval mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 1024,
              rows: torch.Tensor | None = None) -> torch.Tensor:
    """Eval-mode float32 logits (N, K) on ``device`` for inputs ``x`` (N, ...) (uint8 images or floats),
    or (M, K) for the rows ``rows`` (M,) of ``x`` only; restores the train/eval mode."""
    n = len(x) if rows is None else len(rows)
    with eval_mode(model):
        out = [model(to_float(xb.to(device, non_blocking=True))).float()
               for xb in read_batches(x, list(batches(n, batch_size, rows)))]
    return torch.cat(out) if out else torch.empty(0, device=device)


def predict_logits(model: nn.Module, dataset: ArrayDataset, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """``logits_of`` every sample of ``dataset``."""
    return logits_of(model, dataset.x, device, batch_size)


def accuracy_on(model: nn.Module, dataset: ArrayDataset | None, device: torch.device, batch_size: int = 1024,
                num_classes: int | None = None) -> float | None:
    """Top-1 accuracy of ``model`` on ``dataset`` (None when there is no such split).

    With ``num_classes`` K only the first K outputs vote (an abstaining network has K + 1).
    """
    result = evaluate_on(model, dataset, device, batch_size, num_classes)
    return None if result is None else result["acc"]


def evaluate_on(model: nn.Module, dataset: ArrayDataset | None, device: torch.device, batch_size: int,
                num_classes: int | None, extra_metrics: Callable | None = None,
                dist: Distributed | None = None) -> dict | None:
    """``{"acc", "balanced_acc", "per_class_acc"}`` from one pass over ``dataset`` (balanced: the mean
    recall over the classes present; per class: (K,) list, None for a class with no samples), plus
    ``extra_metrics(logits (N, C) numpy, labels (N,) numpy, num_classes) -> dict`` when given (a
    task's own scores, e.g. AURC); None without a dataset.
    Data-parallel (``dist``), each rank scores its stride share and the logits are all-gathered, so
    every rank returns the whole set's metrics for 1/world of the work."""
    if dataset is None or len(dataset) == 0:
        return None
    if dist is not None and dist.enabled and len(dataset) >= dist.world:
        rows = dist.shard(torch.arange(len(dataset)))
        mine = logits_of(model, dataset.x, device, batch_size, rows=rows)
        index, gathered, _ = gather_rows(rows.to(mine.device), mine)
        logits = torch.empty_like(gathered)
        logits[index] = gathered
        logits = logits.cpu()
    else:
        logits = predict_logits(model, dataset, device, batch_size).cpu()
    scores = logits[:, :num_classes]
    pred = scores.argmax(dim=1)
    recall = SF.per_class_accuracy(pred, dataset.y, num_classes or scores.shape[1])
    present = ~recall.isnan()
    out = {"acc": SF.accuracy(pred, dataset.y),
           "balanced_acc": float(recall[present].mean()) if bool(present.any()) else float("nan"),
           "per_class_acc": [None if v != v else v for v in recall.tolist()]}
    if extra_metrics is not None:
        out.update(extra_metrics(logits.numpy(), dataset.y.numpy(), num_classes))
    return out
