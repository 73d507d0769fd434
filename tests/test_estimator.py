"""SATClassifier: the scikit-learn estimator contract, label issues from one fit, any nn.Module."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfadaptive.estimator import SATClassifier
from selfadaptive.issues import detection_metrics
from selfadaptive.noise.labels import corrupt_labels

# check_estimator runs every check that applies to a classifier (55 in scikit-learn 1.9); none is
# expected to fail.  The array-API check skips itself unless SCIPY_ARRAY_API is set (the pandas check
# runs: `make test` installs the dev extra, pandas included), and the
# sample_weight checks do not run because fit takes no sample_weight (SAT's confidence weights
# already re-weight samples; a user weight would need its own semantics).


@parametrize_with_checks([SATClassifier(max_epochs=6, random_state=0)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_finds_flipped_labels_with_string_classes():
    X, y = load_wine(return_X_y=True)
    noise = corrupt_labels(y, 3, 0.3, "flip", seed=0)
    names = np.array(["barolo", "grignolino", "barbera"])
    clf = SATClassifier(max_epochs=30, random_state=0).fit(X, names[noise.noisy_labels])
    assert list(clf.classes_) == sorted(names)
    li = clf.label_issues_
    # label ids index classes_; in index order they reproduce the given labels
    assert np.array_equal(clf.classes_[li.in_index_order("given_label")], names[noise.noisy_labels])
    assert detection_metrics(li.in_index_order("score"), noise.noisy_mask)["auroc"] > 0.95
    flagged = clf.noisy_label_mask_
    assert flagged[noise.noisy_mask].mean() > 0.8 and flagged[~noise.noisy_mask].mean() < 0.1
    assert clf.soft_targets_.shape == (len(y), 3)
    assert set(clf.predict(X[:5])) <= set(names)
    assert clf.score(X, names[y]) > 0.85          # against the true labels


def test_pipeline_and_cross_validation():
    X, y = load_digits(return_X_y=True)
    scores = cross_val_score(make_pipeline(StandardScaler(), SATClassifier(max_epochs=8, random_state=0)), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_random_state_makes_fits_identical_and_leaves_global_rng_alone():
    X, y = load_wine(return_X_y=True)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = SATClassifier(max_epochs=5, random_state=7).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)
    b = SATClassifier(max_epochs=5, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.soft_targets_, b.soft_targets_)


def test_any_module_for_images_and_ce_has_no_issues():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > X[:, 0, 4:].mean(axis=(1, 2))).astype(int)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 2))
    clf = SATClassifier(module=net, max_epochs=4, start_epoch=1, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (64, 2) and clf.label_issues_ is not None
    assert clf.module_ is not net         # the given module is copied, so a refit starts afresh
    factory = lambda shape, k: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape)), k))  # noqa: E731
    ce = SATClassifier(module=factory, loss="ce", max_epochs=2, random_state=0).fit(X, y)
    assert ce.label_issues_ is None and ce.soft_targets_ is None
    with pytest.raises(AttributeError, match="no soft targets"):
        ce.noisy_label_mask_
    with pytest.raises(ValueError, match="loss must be"):
        SATClassifier(loss="nope").fit(X.reshape(64, -1), y)


def test_auto_start_and_a_ranking_when_sat_never_starts():
    from sklearn.datasets import load_digits

    from selfadaptive.issues import detection_metrics
    from selfadaptive.noise.labels import corrupt_labels
    X, y = load_digits(return_X_y=True)
    noisy = corrupt_labels(y, 10, 0.3, "flip", seed=0)
    auto = SATClassifier(max_epochs=30, start_epoch="auto", random_state=0).fit(X, noisy.noisy_labels)
    assert auto.start_epoch_ == "auto" and isinstance(auto.start_epoch_chosen_, int)      # measured: epoch 18
    # flip noise spreads the disagreements evenly: the memorisation gate held the start (off: epoch 4)
    free = SATClassifier(max_epochs=30, start_epoch="auto", random_state=0, auto_min_concentration=0).fit(
        X, noisy.noisy_labels)
    assert free.start_epoch_chosen_ < auto.start_epoch_chosen_
    assert SATClassifier().get_params()["auto_min_concentration"] is None
    late = SATClassifier(max_epochs=6, start_epoch=50, random_state=0).fit(X, noisy.noisy_labels)
    assert set(np.unique(late.soft_targets_)) == {0.0, 1.0}          # E_s beyond the run: the bank never moved
    # the bank never moved, yet the labels are ranked (from the training passes), not all tied at 0
    auroc = detection_metrics(late.label_issues_.in_index_order("score"), noisy.noisy_mask)["auroc"]
    assert auroc > 0.85, auroc


def test_variant_picks_the_form_of_the_sat_loss():
    X, y = load_wine(return_X_y=True)
    fits = {v: SATClassifier(max_epochs=3, start_epoch=0, variant=v, random_state=0).fit(X, y).soft_targets_
            for v in ("sce", "ce")}
    assert SATClassifier().get_params()["variant"] == "sce"
    # from the same seed the first SAT step already differs: SCE's reverse term changes the gradient
    assert not np.allclose(fits["sce"], fits["ce"])
    with pytest.raises(ValueError, match="variant"):
        SATClassifier(max_epochs=1, variant="mse").fit(X, y)


def test_a_validation_split_selects_the_model_and_ranks_both_parts(monkeypatch):
    """validation_fraction: the held-out rows' given labels score every epoch, reach the automatic start, and
    decide which weights ``module_`` keeps: the last epoch's unless the best epoch wins the sign test.  The
    kept network's accuracy on the held-out rows is the score recorded for its epoch, which ties the choice
    to the weights actually kept.  Both parts are ranked, each row once, in X's row numbers."""
    from selfadaptive.engine.selection import KEEP_SELECTED_P, sign_test_p
    from selfadaptive.losses.warm_up import WarmUp

    X, y = load_digits(return_X_y=True)
    noisy = corrupt_labels(y, 10, 0.4, "flip", seed=0)
    fed = []
    observe = WarmUp.observe_validation
    monkeypatch.setattr(WarmUp, "observe_validation", lambda self, e, acc: (fed.append((e, acc)), observe(self, e, acc)))
    clf = SATClassifier(max_epochs=12, random_state=0, validation_fraction=0.2).fit(X, noisy.noisy_labels)
    n = len(y)
    train, held = clf.train_index_, clf.validation_index_
    assert len(held) == int(np.ceil(0.2 * n)) and np.array_equal(np.sort(np.concatenate([train, held])), np.arange(n))
    assert np.bincount(noisy.noisy_labels[held], minlength=10).min() >= 30         # stratified: ~36 a class
    scores = clf.validation_scores_
    assert len(scores) == 12 and [r["val_acc"] for r in clf.history_] == scores
    assert fed == list(enumerate(scores))                                        # the automatic start saw them
    assert clf.selected_epoch_ == int(np.argmax(scores))
    kept_epoch = clf.selected_epoch_ if clf.model_to_use_ == "selected" else 11
    assert clf.score(X[held], noisy.noisy_labels[held]) == pytest.approx(scores[kept_epoch])
    if clf.selected_epoch_ == 11:
        assert clf.model_to_use_ == "last" and clf.selection_p_value_ is None
    else:
        assert (clf.model_to_use_ == "selected") == (clf.selection_p_value_ < KEEP_SELECTED_P)
        assert 0 < clf.selection_p_value_ <= 1 and sign_test_p(0, 0) == 1.0
    assert clf.soft_targets_.shape == (len(train), 10)
    assert np.array_equal(np.sort(clf.label_issues_.source_index), train)
    assert np.array_equal(np.sort(clf.held_out_issues_.source_index), held)
    mask = clf.noisy_label_mask_
    assert mask.shape == (n,) and mask[noisy.noisy_mask].mean() > 0.5 and mask[~noisy.noisy_mask].mean() < 0.2
    table = clf.find_label_issues(X, noisy.noisy_labels)          # refits: the same seeded run
    assert list(table.index) == list(range(n)) and np.array_equal(table["is_label_issue"].to_numpy(), mask)
    with pytest.raises(ValueError, match="validation_fraction"):
        SATClassifier(max_epochs=1, validation_fraction=1.5).fit(X, y)
