"""cleanlab from one SAT run: the run's ``pred_probs`` (the debiased bank) fed to cleanlab's
``find_label_issues`` and ``estimate_joint`` give its pruning and its noise matrix, and both find
the noise we injected.  cleanlab comes with the [dev] and [bench] extras."""
from __future__ import annotations

import os

import numpy as np
import pytest

if not os.environ.get("SAT_REQUIRE_CLEANLAB"):
    pytest.importorskip("cleanlab", reason='cleanlab interop needs pip install "selfadaptive[bench]"')
from cleanlab.count import estimate_joint  # noqa: E402
from cleanlab.filter import find_label_issues  # noqa: E402

from selfadaptive.config import load_config  # noqa: E402
from selfadaptive.issues.evaluate import issues_from_run  # noqa: E402
from selfadaptive.issues.tracker import pred_probs_from_history  # noqa: E402
from selfadaptive.training.loop import train  # noqa: E402


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """The digits default (40% of labels flipped, MLP), SAT from epoch 5 of 20."""
    out = tmp_path_factory.mktemp("cleanlab") / "run"
    cfg = load_config(None, ["optim.epochs=20", "loss.start_epoch=5", "log.progress=false"])
    train(cfg, out, quiet=True)
    return issues_from_run(out)


def test_pred_probs_are_probabilities_in_index_order(found):
    probs = found.pred_probs
    n = len(found.issues.index)
    assert probs.shape == (n, 10) and probs.dtype == np.float64
    assert (probs >= 0).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    # the argmax of pred_probs is the suggested label wherever the ranking flags the sample
    flagged = found.issues.in_index_order("flagged").astype(bool)
    assert np.array_equal(probs.argmax(axis=1)[flagged], found.issues.in_index_order("suggested_label")[flagged])


def test_cleanlab_prunes_the_flipped_labels_from_one_sat_run(found):
    given = found.issues.in_index_order("given_label")
    truth = found.noisy_mask
    pruned = find_label_issues(given, found.pred_probs, filter_by="prune_by_noise_rate")
    precision, recall = truth[pruned].mean(), pruned[truth].mean()
    assert precision > 0.8 and recall > 0.7, (precision, recall)        # chance precision: 0.4


def test_cleanlab_estimates_the_noise_we_injected(found):
    given = found.issues.in_index_order("given_label")
    joint = estimate_joint(given, found.pred_probs)                      # (K, K): P(given, true)
    assert joint.shape == (10, 10) and np.isclose(joint.sum(), 1.0)
    off_diagonal = 1.0 - np.trace(joint)
    assert abs(off_diagonal - found.noisy_mask.mean()) < 0.1, off_diagonal      # 40% of labels flipped
    # flip noise moves each class's wrong labels to other classes: the diagonal still dominates
    assert (np.diag(joint) > joint.sum(axis=0) * 0.4).all()


def test_pred_probs_of_a_bank_that_never_moved_come_from_the_training_passes():
    bank = np.eye(3)[[0, 1, 2, 0]]
    history = {"epochs_tracked": 0, "epochs_predicted": 2, "momentum": 0.9,
               "prediction_mass_sum": np.array([1.8, 0.4, 1.0, 0.2]), "last_prediction": np.array([0, 2, 2, 1]),
               "last_prediction_mass": np.array([0.9, 0.7, 0.5, 0.8])}
    probs = pred_probs_from_history(bank, np.array([0, 1, 2, 0]), history)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs[:, [0, 1, 2, 0]][np.arange(4), np.arange(4)], [0.9, 0.2, 0.5, 0.1])   # mean p_iy
    assert probs[1].argmax() == 2 and probs[3].argmax() == 1                 # the last passes' predictions
