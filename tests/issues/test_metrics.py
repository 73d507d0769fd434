"""The detection metrics logged every epoch equal scikit-learn's, ties included."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from selfadaptive.issues.metrics import auroc, average_precision, detection_metrics


@pytest.mark.parametrize("seed", range(6))
def test_auroc_and_ap_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 500))
    scores = rng.random(n)
    if seed % 2:
        scores = np.round(scores, 1)            # many ties
    truth = rng.random(n) < 0.3
    truth[:2] = [True, False]
    assert auroc(scores, truth) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert average_precision(scores, truth) == pytest.approx(average_precision_score(truth, scores), abs=1e-12)


def test_detection_metrics_edges():
    perfect = detection_metrics([0.9, 0.8, 0.1, 0.2], [True, True, False, False])
    assert perfect["auroc"] == 1.0 and perfect["ap"] == 1.0 and perfect["precision_at_k"] == 1.0
    assert detection_metrics([0.5, 0.5], [False, False])["auroc"] is None
    flat = detection_metrics([0.5] * 4, [True, False, True, False])
    assert flat["auroc"] == 0.5 and flat["ap"] == 0.5
    empty = detection_metrics([], [])
    assert empty["auroc"] is None and empty["precision_at_k"] is None and empty["recall_at_k"] is None
    # ties at the cut go by index: the first two of four equal scores
    assert detection_metrics([0.5] * 4, [True, True, False, False])["precision_at_k"] == 1.0
