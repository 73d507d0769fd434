"""Which of a run's two models to use: the paired sign test between the selected epoch and the last."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from selfadaptive.data import ArrayDataset
from selfadaptive.engine.checkpoint import save_checkpoint
from selfadaptive.engine.runfolder import RunDir
from selfadaptive.engine.selection import KEEP_SELECTED_P, paired_lead, sign_test_p, split_predictions


def binomial_tail(wins: int, n: int) -> float:
    """P(X >= wins), X ~ Binomial(n, 1/2), summed term by term."""
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n


@pytest.mark.parametrize("wins,losses", [(0, 0), (3, 1), (1, 3), (14, 0), (97, 38), (50, 50), (26, 9)])
def test_sign_test_is_the_binomial_tail(wins, losses):
    expected = 1.0 if wins + losses == 0 else binomial_tail(wins, wins + losses)
    assert sign_test_p(wins, losses) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_paired_lead_counts_only_the_samples_the_models_disagree_on():
    selected = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1], dtype=bool)
    last = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    lead = paired_lead(selected, last)
    assert (lead["wins"], lead["losses"]) == (8, 1)     # both right on 2, both wrong on 1: not counted
    assert lead["p_value"] == pytest.approx(binomial_tail(8, 9))
    assert lead["keep_selected"] == (binomial_tail(8, 9) < KEEP_SELECTED_P)
    # the same accuracies, but the models agree on all but two samples: no lead
    tied = paired_lead(np.array([1, 0, 1, 1], bool), np.array([0, 1, 1, 1], bool))
    assert (tied["wins"], tied["losses"], tied["keep_selected"]) == (1, 1, False)
    assert paired_lead(last, last) == {"wins": 0, "losses": 0, "p_value": 1.0, "keep_selected": False}
    with pytest.raises(ValueError, match="same samples"):
        paired_lead(selected, last[:5])


def _identity_classifier(k: int, permute: bool) -> nn.Module:
    """A linear model on one-hot inputs: the identity predicts each sample's class, a cyclic shift never does."""
    model = nn.Linear(k, k, bias=False)
    with torch.no_grad():
        eye = torch.eye(k)
        model.weight.copy_(eye.roll(1, dims=0) if permute else eye)
    return model


def test_split_predictions_of_saved_weights_leave_the_model_untouched(tmp_path):
    k, m = 5, 40
    y = torch.arange(m) % k
    y[:6] = (y[:6] + 2) % k            # 6 samples whose label neither model predicts
    split = ArrayDataset(torch.eye(k)[torch.arange(m) % k], y)
    right, wrong = _identity_classifier(k, False), _identity_classifier(k, True)
    save_checkpoint(tmp_path / "selected.pt", {"model": right.state_dict()})
    before = wrong.weight.detach().clone()
    args = (split, torch.device("cpu"), 16, k)
    selected = split_predictions(wrong, *args, weights=tmp_path / "selected.pt")
    last = split_predictions(wrong, *args)
    assert np.array_equal(selected, (torch.arange(m) % k).numpy())
    assert np.array_equal(last, ((torch.arange(m) + 1) % k).numpy())
    assert torch.equal(wrong.weight, before)            # the caller's model still holds the last epoch's weights
    lead = paired_lead(selected == y.numpy(), last == y.numpy())
    assert (lead["wins"], lead["losses"]) == (m - 6, 0) and lead["keep_selected"]
    assert lead["p_value"] == pytest.approx(0.5 ** (m - 6))
    # the other way round the selected weights lose every disagreement
    lead = paired_lead(last == y.numpy(), selected == y.numpy())
    assert (lead["wins"], lead["losses"], lead["keep_selected"]) == (0, m - 6, False)


@pytest.mark.parametrize("summary,has_selected,expected", [
    ({"model_to_use": "selected"}, True, "selected_model.pt"),
    ({"model_to_use": "last"}, True, "checkpoint.pt"),
    ({}, True, "selected_model.pt"),                    # written before the verdict: as sat audit did then
    ({"model_to_use": "selected"}, False, "checkpoint.pt"),
])
def test_run_folder_names_the_model_to_use(tmp_path, summary, has_selected, expected):
    run = RunDir(tmp_path)
    run.summary.write_text(json.dumps(summary))
    if has_selected:
        run.selected_model.write_bytes(b"")
    assert run.model_to_use().name == expected
