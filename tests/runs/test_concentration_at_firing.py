"""benchmarks/accuracy/concentration_at_firing.py: the asymmetry of the disagreements (a reading beside the gate's)."""
import pytest
import torch

from benchmarks.accuracy.concentration_at_firing import disagreement_asymmetry


def test_one_way_confusions_read_1_two_way_ones_0_and_none_without_disagreements():
    given = torch.arange(4).repeat_interleave(10)                       # 4 classes, 10 samples each
    pair = given.clone()
    pair[::5] = (given[::5] + 1) % 4                                    # 2 of each class to the next class only
    assert disagreement_asymmetry(given, pair, 4) == pytest.approx(1.0)
    swap = given.clone()
    swap[[0, 1, 10, 11]] = torch.tensor([1, 1, 0, 0])                   # 0 <-> 1 at the same rate both ways
    assert disagreement_asymmetry(given, swap, 4) == pytest.approx(0.0)
    assert disagreement_asymmetry(given, given.clone(), 4) is None


def test_rates_not_counts_decide_for_classes_of_different_sizes():
    given = torch.tensor([0] * 20 + [1] * 10)
    pred = given.clone()
    pred[:4] = 1                                                        # 4 of 20 (20%) of class 0 read as 1
    pred[20:22] = 0                                                     # 2 of 10 (20%) of class 1 read as 0
    assert disagreement_asymmetry(given, pred, 2) == pytest.approx(0.0)
