"""The plain-loop recipe (`examples/plain_loop.py`: `IndexedDataset` + `SelfAdaptiveLoss` +
`LabelIssueTracker.attach`): the same training as `sat train` ranks exactly as `sat issues`, with SAT
started at epoch 2 and with E_s beyond the run (the ranking from predictions)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from helpers import SatTrainRun
from torch.utils.data import DataLoader, TensorDataset

from selfadaptive import IndexedDataset

spec = importlib.util.spec_from_file_location(
    "plain_loop", Path(__file__).resolve().parents[2] / "examples" / "plain_loop.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


@pytest.mark.parametrize("start", [2, 50])
def test_the_plain_loop_ranks_exactly_as_sat_issues(tmp_path, start):
    run = SatTrainRun(tmp_path / "sat", start)
    cfg = run.cfg
    loader = DataLoader(IndexedDataset(TensorDataset(run.data.train.x, run.labels)), batch_sampler=run.batch_sampler())
    _, tracker = example.fit(run.initial_model, loader, run.labels, run.data.num_classes, epochs=cfg.optim.epochs,
                             lr=cfg.optim.lr, momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay,
                             start_epoch=start, sat_momentum=0.9)
    run.assert_same_ranking(tracker.label_issues())
    import numpy as np
    assert np.allclose(tracker.pred_probs(), run.found.pred_probs, atol=1e-6, rtol=0)      # cleanlab's input too


def test_the_example_finds_the_flipped_digits(tmp_path):
    found = example.main(["--out", str(tmp_path / "demo"), "--epochs", "12"])
    assert found["auroc"] > 0.9
    assert (tmp_path / "demo" / "label_issues.csv").stat().st_size > 1000
