"""How well a ranking of the training labels finds the wrong ones, when the true labels are known."""
from __future__ import annotations

import numpy as np


def detection_metrics(scores, noisy_mask, k: int | None = None) -> dict:
    """How well ``scores`` (N,) rank the truly mislabeled samples ``noisy_mask`` (N,) bool first.

    Returns AUROC and average precision (scikit-learn), and precision@k / recall@k for the top
    ``k`` scores (default: the number of noisy samples, where the two coincide).  Ties at the cut
    are broken by index.  AUROC/AP are None when only one class is present.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(noisy_mask, dtype=bool)
    n_noisy = int(truth.sum())
    k = n_noisy if k is None else int(k)
    both = 0 < n_noisy < truth.size
    top = np.argsort(-scores, kind="stable")[:k]
    hits = int(truth[top].sum())
    return {
        "auroc": float(roc_auc_score(truth, scores)) if both else None,
        "ap": float(average_precision_score(truth, scores)) if both else None,
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
