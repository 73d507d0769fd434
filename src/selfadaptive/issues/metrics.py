"""How well a ranking of the training labels finds the wrong ones, when the true labels are known."""
from __future__ import annotations

import numpy as np


def _ranking(scores: np.ndarray, truth: np.ndarray):
    """One stable descending sort of ``scores`` (N,): the order (ties by index), and per tie group,
    highest scores first, its last position and its count of positives (``truth``) and negatives."""
    order = np.argsort(-scores, kind="stable")
    if not len(order):
        return order, order, order, order
    ranked, hits = scores[order], truth[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])          # last position of each tie group
    pos = np.diff(np.r_[0, np.cumsum(hits)[ends]])
    return order, ends, pos, np.diff(np.r_[-1, ends]) - pos


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    # Mann-Whitney: a positive beats the negatives of every lower group and ties half of its own group's
    below = neg.sum() - np.cumsum(neg)
    return float(np.sum(pos * (below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def _average_precision(ends: np.ndarray, pos: np.ndarray) -> float:
    tp = np.cumsum(pos)
    return float(np.sum(pos / tp[-1] * (tp / (ends + 1.0))))      # sum_n (R_n - R_{n-1}) P_n


def auroc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,) for the positives ``truth`` (N,) bool: the
    Mann-Whitney statistic, ties counting one half (equal to scikit-learn's ``roc_auc_score``)."""
    _, _, pos, neg = _ranking(np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool))
    return _auroc(pos, neg)


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Average precision, sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds in decreasing
    order (scikit-learn's ``average_precision_score``)."""
    _, ends, pos, _ = _ranking(np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool))
    return _average_precision(ends, pos)


def detection_metrics(scores, noisy_mask, k: int | None = None) -> dict:
    """How well ``scores`` (N,) rank the truly mislabeled samples ``noisy_mask`` (N,) bool first.

    Returns AUROC and average precision, and precision@k / recall@k for the top ``k`` scores
    (default: the number of noisy samples, where the two coincide).  Ties at the cut are broken by
    index.  AUROC/AP are None when only one class is present.  Plain numpy, one sort for all four:
    the trainer logs them every epoch, where scikit-learn's input checks cost more than the ranking.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(noisy_mask, dtype=bool)
    n_noisy = int(truth.sum())
    k = n_noisy if k is None else int(k)
    both = 0 < n_noisy < truth.size
    order, ends, pos, neg = _ranking(scores, truth)
    hits = int(truth[order[:k]].sum())
    return {
        "auroc": _auroc(pos, neg) if both else None,
        "ap": _average_precision(ends, pos) if both else None,
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
