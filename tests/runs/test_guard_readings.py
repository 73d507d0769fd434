"""benchmarks.accuracy.guard_readings: the share-relative concentration against the plain one."""
import pytest
import torch

from benchmarks.accuracy.guard_readings import relative_concentration
from selfadaptive.losses.start_rules import disagreement_concentration


def test_with_equal_shares_it_is_the_plain_concentration():
    g = torch.Generator().manual_seed(0)
    given = torch.randint(0, 5, (400,), generator=g)
    pred = torch.where(torch.rand(400, generator=g) < 0.4, torch.randint(0, 5, (400,), generator=g), given)
    assert relative_concentration(given, pred, 5, torch.ones(5)) == pytest.approx(disagreement_concentration(given, pred, 5))


def test_disagreements_spread_by_class_size_read_one():
    """Given class 0's disagreements go to classes 1, 2, 3 in proportion 6:3:1 (their shares): relative to
    those shares the reading is 1 (up to the unbiased pair count), while the plain one reads concentrated."""
    shares = torch.tensor([1.0, 6.0, 3.0, 1.0])
    pred = torch.cat([torch.full((600,), 1), torch.full((300,), 2), torch.full((100,), 3)])
    given = torch.zeros(1000, dtype=torch.long)
    assert relative_concentration(given, pred, 4, shares) == pytest.approx(1.0, abs=0.01)
    assert disagreement_concentration(given, pred, 4) > 1.3
    assert relative_concentration(given, given, 4, shares) is None        # no disagreement
