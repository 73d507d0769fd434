"""Side-effect-free building blocks shared by the losses, the trainer and the reports.

Nothing here keeps state or touches the disk; the stateful wrappers (the loss modules, the
trainer) call these functions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def one_hot_bank(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The initial target bank: one row per sample, the one-hot of its given label.

    labels: (N,) int64 in [0, K).  Returns (N, K) of ``dtype``.  Built in place: ``F.one_hot``
    would first make an int64 table, 8 bytes a cell (10 GB at ImageNet scale).
    """
    labels = labels.long()
    bank = torch.zeros(labels.shape[0], num_classes, dtype=dtype, device=labels.device)
    return bank.scatter_(1, labels[:, None], 1.0)


def bank_rows(bank: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``bank[index]`` as float32 on ``index``'s device.  bank: (N, K); index: (B,) -> (B, K).

    A bank kept in host memory (``loss.bank_device=cpu``) for a model on a GPU is read through
    its pinned pages: the indices come to the host (B int64), the rows go up asynchronously.
    """
    if bank.device == index.device:
        return bank.index_select(0, index).float()
    rows = bank[index.cpu()]
    if index.device.type == "cuda":
        return rows.pin_memory().to(index.device, non_blocking=True).float()
    return rows.to(index.device).float()


def store_rows(bank: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> None:
    """``bank[index] = rows`` in the bank's dtype and on its device (see ``bank_rows``)."""
    if bank.device == index.device:
        bank.index_copy_(0, index.long(), rows.to(bank.dtype))
    else:
        bank[index.cpu()] = rows.to(bank.dtype).cpu()


def ema_update(targets: torch.Tensor, probs: torch.Tensor, momentum: float) -> torch.Tensor:
    """The SAT target update ``t <- a * t + (1 - a) * p``, computed as ``t + (1 - a) (p - t)``.

    targets: (B, K) current rows of the bank; probs: (B, K) detached model probabilities.
    Returns the new rows (B, K) in float32, whatever the dtype of ``targets``.  One ``lerp`` kernel
    instead of three element-wise ones: on the small batches of a CPU run the dispatches, not the
    arithmetic, are the cost (docs/benchmarks.md §13); the rounding differs from the two-product form
    by at most an ulp.
    """
    return torch.lerp(targets.float(), probs.float(), 1.0 - momentum)


def confidence_weights(targets: torch.Tensor) -> torch.Tensor:
    """SAT's per-sample weight ``w_i = max_j t_ij``.  targets: (B, K) -> (B,)."""
    return targets.amax(dim=1)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample ``-sum_j t_ij log softmax(z_i)_j``.  logits, targets: (B, K) -> (B,)."""
    return soft_nll(F.log_softmax(logits.float(), dim=1), targets)


def soft_nll(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample ``-sum_j t_ij log p_ij`` from log-probabilities.  log_probs, targets: (B, K) -> (B,)."""
    return -(targets * log_probs).sum(dim=1)


def symmetric_soft_nll(log_probs: torch.Tensor, probs: torch.Tensor, targets: torch.Tensor, alpha: float,
                       beta: float, log_guard: float) -> torch.Tensor:
    """Per-sample ``alpha * (-sum_j t_ij log p_ij) + beta * (-sum_j p_ij log max(t_ij, log_guard))``, the
    symmetric form of SAT's loss.  log_probs, probs (its exp, with gradient), targets: (B, K) -> (B,).
    Both terms are summed in one pass: on small batches each extra element-wise kernel costs more than
    its arithmetic (docs/benchmarks.md §13)."""
    terms = targets * log_probs if alpha == 1.0 else targets * log_probs * alpha
    return -terms.add_(probs * targets.clamp_min(log_guard).log(), alpha=beta).sum(dim=1)


def accuracy(logits_or_pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose prediction equals ``labels``; accepts (B, K) logits or (B,) classes."""
    pred = logits_or_pred.argmax(dim=1) if logits_or_pred.dim() == 2 else logits_or_pred
    if labels.numel() == 0:
        return float("nan")
    return (pred == labels).float().mean().item()


def per_class_accuracy(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Recall of each class: the fraction of class-c samples predicted c.  pred, labels: (N,) ->
    (K,) float64, NaN for a class with no samples.  Their mean over the classes present is the
    balanced accuracy, the figure to read on an imbalanced test set."""
    labels = labels.long().cpu()
    hits = torch.bincount(labels[pred.cpu() == labels], minlength=num_classes)[:num_classes].double()
    counts = torch.bincount(labels, minlength=num_classes)[:num_classes].double()
    return hits / counts        # 0 / 0 = NaN


#: balanced accuracy is worth printing beside the accuracy when they differ by this much (an imbalanced set)
BALANCED_GAP = 0.005


def balanced_differs(acc: float, balanced: float | None) -> bool:
    """Whether balanced accuracy is worth printing beside the accuracy: they differ by ``BALANCED_GAP``."""
    return balanced is not None and abs(balanced - acc) >= BALANCED_GAP


def worst_class(per_class) -> tuple[int, float] | None:
    """(class, accuracy) of the lowest entry of ``per_class`` ((K,) list, None for absent classes)."""
    present = [(v, c) for c, v in enumerate(per_class or []) if v is not None]
    if not present:
        return None
    value, cls = min(present)
    return cls, value


def target_recovery(soft_targets: torch.Tensor, clean_labels: torch.Tensor, noisy_mask: torch.Tensor) -> float:
    """Fraction of corrupted samples whose target now points at the true class.

    soft_targets: (N, K); clean_labels: (N,); noisy_mask: (N,) bool.  NaN when nothing is noisy.
    """
    if int(noisy_mask.sum()) == 0:
        return float("nan")
    pred = soft_targets[noisy_mask].float().argmax(dim=1)
    return (pred == clean_labels[noisy_mask]).float().mean().item()


def kl_rows(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(p(x_i) || p(x'_i))``, gradients through both.  (B, K), (B, K) -> (B,)."""
    return F.kl_div(F.log_softmax(logits_adv.float(), dim=1), F.softmax(logits_clean.float(), dim=1),
                    reduction="none").sum(dim=1)


def normalized_ema_update(targets: torch.Tensor, z: torch.Tensor, momentum: float) -> torch.Tensor:
    """``normalise(alpha * t + (1 - alpha) * z)`` row-wise, in float32: the self-supervised bank update.
    targets, z: (B, D) -> (B, D) unit rows."""
    return F.normalize(momentum * targets.float() + (1.0 - momentum) * z.float(), dim=1)


def cosine_regression(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos(q_i, t_i)`` per row, (B, D) x (B, D) -> (B,): BYOL's normalised squared distance."""
    return 2.0 - 2.0 * F.cosine_similarity(q.float(), t.float(), dim=1)
