"""Unit and parity tests of the label-issue scores, the debiasing, the ranking and the metrics."""
import csv

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from selfadaptive.issues import (
    LabelIssueTracker,
    debiased_targets,
    detection_metrics,
    flagged_set_metrics,
    given_mass,
    issue_scores,
    label_issues,
    label_margin,
)


def test_given_mass_and_margin_by_hand():
    t = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    y = torch.tensor([0, 0, 2])
    assert given_mass(t, y).tolist() == pytest.approx([0.7, 0.1, 0.3])
    # T_iy - max_{j != y} T_ij
    assert label_margin(t, y).tolist() == pytest.approx([0.5, -0.5, -0.2])
    assert issue_scores(t, y, "given_mass").tolist() == pytest.approx([0.3, 0.9, 0.7])
    assert issue_scores(t, y, "margin").tolist() == pytest.approx([-0.5, 0.5, 0.2])
    with pytest.raises(ValueError, match="per-epoch history"):
        issue_scores(t, y, "mean_given_mass")


def test_debiasing_recovers_the_average_prediction_from_the_paper_update():
    """After m SAT updates t <- a t + (1-a) p from onehot(y), removing a^m onehot(y) and
    dividing by 1 - a^m gives the EMA of the predictions alone."""
    g = torch.Generator().manual_seed(0)
    a, m, y = 0.9, 7, torch.tensor([1, 0, 2, 2])
    t = torch.nn.functional.one_hot(y, 3).float()
    ema, norm = torch.zeros(4, 3), 0.0
    for _ in range(m):
        p = torch.softmax(torch.randn(4, 3, generator=g), dim=1)
        t = a * t + (1 - a) * p
        ema, norm = a * ema + (1 - a) * p, a * norm + (1 - a)
    got = debiased_targets(t, y, a ** m)
    torch.testing.assert_close(got, ema / norm, atol=1e-5, rtol=0)
    assert got.sum(1).tolist() == pytest.approx([1.0] * 4, abs=1e-5)
    # the correction is affine with one weight for all rows: rankings do not move
    assert torch.equal(torch.argsort(given_mass(got, y)), torch.argsort(given_mass(t, y)))
    torch.testing.assert_close(debiased_targets(t, y, 0.0), t)


def test_detection_metrics_match_sklearn_and_count_top_k():
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.6, 0.05])
    truth = np.array([1, 0, 0, 1, 0, 1, 0], dtype=bool)
    m = detection_metrics(scores, truth)
    assert m["auroc"] == pytest.approx(roc_auc_score(truth, scores))
    assert m["ap"] == pytest.approx(average_precision_score(truth, scores))
    # k = 3 noisy samples; the top 3 scores are 0.9 (noisy), 0.8 (clean), 0.7 (noisy)
    assert m["k"] == 3 and m["precision_at_k"] == pytest.approx(2 / 3) and m["recall_at_k"] == pytest.approx(2 / 3)
    m5 = detection_metrics(scores, truth, k=5)     # adds 0.6 (noisy), 0.2 (clean)
    assert m5["precision_at_k"] == pytest.approx(3 / 5) and m5["recall_at_k"] == pytest.approx(1.0)
    none = detection_metrics(scores, np.zeros(7, bool))
    assert none["auroc"] is None and none["recall_at_k"] is None


def test_flagged_set_metrics_by_hand():
    truth = np.array([1, 1, 0, 0, 1], dtype=bool)
    flagged = np.array([1, 0, 1, 0, 1], dtype=bool)
    m = flagged_set_metrics(flagged, truth)
    assert (m["num_flagged"], m["precision"], m["recall"]) == (3, pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert m["f1"] == pytest.approx(2 / 3)


def test_ranking_puts_the_most_moved_rows_first_with_deterministic_ties():
    t = np.array([[0.9, 0.1, 0.0],      # 0: keeps its label
                  [0.2, 0.8, 0.0],      # 1: moved to class 1, margin -0.6
                  [0.3, 0.3, 0.4],      # 2: given 2, margin +0.1
                  [0.2, 0.0, 0.8],      # 3: moved to class 2, margin -0.6 (tie with 1)
                  [0.5, 0.5, 0.0]])     # 4: given 0, margin 0
    y = np.array([0, 0, 2, 0, 0])
    li = label_issues(t, y, "margin", source_index=np.array([10, 11, 12, 13, 14]), class_names=("a", "b", "c"))
    assert li.index.tolist() == [1, 3, 4, 2, 0]
    assert li.source_index.tolist() == [11, 13, 14, 12, 10]
    assert li.suggested_label.tolist() == [1, 2, 0, 2, 0]       # argmax ties go to the lower class
    assert li.flagged.tolist() == [True, True, False, False, False]
    assert np.all(np.diff(li.score) <= 0)
    assert li.in_index_order("given_mass").tolist() == pytest.approx([0.9, 0.2, 0.4, 0.2, 0.5])
    rows = list(li.rows(2))
    assert rows[0]["given_label"] == "a" and rows[0]["suggested_label"] == "b" and rows[0]["rank"] == 1


def test_label_issues_to_csv(tmp_path):
    li = label_issues(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([0, 0]), "given_mass")
    li.to_csv(tmp_path / "x.csv")
    rows = list(csv.DictReader(open(tmp_path / "x.csv")))
    assert [r["index"] for r in rows] == ["0", "1"]
    assert rows[0]["suggested_label"] == "1" and rows[0]["flagged"] == "1" and float(rows[0]["score"]) == pytest.approx(0.9)


def test_label_issues_rejects_bad_shapes():
    with pytest.raises(ValueError, match="must be"):
        label_issues(np.ones((3, 2)), np.zeros(2, int))
    with pytest.raises(ValueError, match="lie in"):
        label_issues(np.ones((2, 2)), np.array([0, 2]))


def test_tracker_waits_for_the_bank_to_move_and_records_first_flags():
    y = torch.tensor([0, 1, 1])
    tracker = LabelIssueTracker(y, momentum=0.5)
    bank = torch.nn.functional.one_hot(y, 2).float()
    assert not tracker.update(bank, epoch=0)        # one-hot: SAT has not started
    assert tracker.mean_given_mass() is None and int(tracker.epochs_tracked) == 0
    p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    bank = 0.5 * bank + 0.5 * p                     # sample 1: T = [0.4, 0.6], debiased [0.8, 0.2]
    assert tracker.update(bank, epoch=1)
    assert tracker.first_flagged_epoch.tolist() == [-1, 1, -1]   # flagged although argmax T is still y
    assert tracker.prior_weight() == pytest.approx(0.5)
    bank = 0.5 * bank + 0.5 * p
    tracker.update(bank, epoch=2)
    assert tracker.first_flagged_epoch.tolist() == [-1, 1, -1]
    assert tracker.mean_given_mass().tolist() == pytest.approx([(0.95 + 0.925) / 2, (0.6 + 0.4) / 2, (0.95 + 0.925) / 2])
    # state_dict carries the history (checkpoints)
    other = LabelIssueTracker(y, momentum=0.5)
    other.load_state_dict(tracker.state_dict())
    assert torch.equal(other.given_mass_sum, tracker.given_mass_sum) and int(other.epochs_tracked) == 2
