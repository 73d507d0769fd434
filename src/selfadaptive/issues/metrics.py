"""How well a ranking of the training labels finds the wrong ones, when the true labels are known."""
from __future__ import annotations

import numpy as np


def auroc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,) for the positives ``truth`` (N,) bool: the
    Mann-Whitney statistic with average ranks for ties (equal to scikit-learn's ``roc_auc_score``)."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])           # last position of each tie group
    starts = np.r_[0, ends[:-1] + 1]
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat((starts + ends) / 2.0 + 1.0, ends - starts + 1)   # average 1-based rank
    pos = int(truth.sum())
    neg = len(truth) - pos
    return float((ranks[truth].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Average precision, sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds in decreasing
    order (scikit-learn's ``average_precision_score``)."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], truth[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    tp = np.cumsum(hits)[ends]
    precision = tp / (ends + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def detection_metrics(scores, noisy_mask, k: int | None = None) -> dict:
    """How well ``scores`` (N,) rank the truly mislabeled samples ``noisy_mask`` (N,) bool first.

    Returns AUROC and average precision, and precision@k / recall@k for the top ``k`` scores
    (default: the number of noisy samples, where the two coincide).  Ties at the cut are broken by
    index.  AUROC/AP are None when only one class is present.  Plain numpy (one sort each): the
    trainer logs them every epoch, where scikit-learn's input checks cost more than the ranking.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(noisy_mask, dtype=bool)
    n_noisy = int(truth.sum())
    k = n_noisy if k is None else int(k)
    both = 0 < n_noisy < truth.size
    top = np.argsort(-scores, kind="stable")[:k]
    hits = int(truth[top].sum())
    return {
        "auroc": auroc(scores, truth) if both else None,
        "ap": average_precision(scores, truth) if both else None,
        "k": k,
        "precision_at_k": hits / k if k else None,
        "recall_at_k": hits / n_noisy if n_noisy else None,
    }


def flagged_set_metrics(flagged, noisy_mask) -> dict:
    """Precision, recall and F1 of a boolean flagged set against the truth; (N,), (N,) bool."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    flagged, truth = np.asarray(flagged, dtype=bool), np.asarray(noisy_mask, dtype=bool)
    kw = {"zero_division": 0.0}
    return {"num_flagged": int(flagged.sum()), "precision": float(precision_score(truth, flagged, **kw)),
            "recall": float(recall_score(truth, flagged, **kw)), "f1": float(f1_score(truth, flagged, **kw))}
