"""The Lightning recipe (`examples/lightning_sat.py` + `LabelIssuesCallback`): the same training as
`sat train` ranks exactly as `sat issues`, the file is written when fit ends, and a fit resumed from
Lightning's checkpoint ranks as an uninterrupted one."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

L = pytest.importorskip("lightning", reason='the Lightning recipe needs pip install "selfadaptive[lightning]"') \
    if not os.environ.get("SAT_REQUIRE_LIGHTNING") else __import__("lightning")
import torch  # noqa: E402
from helpers import SatTrainRun  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from selfadaptive import IndexedDataset, SelfAdaptiveLoss  # noqa: E402
from selfadaptive.integrations.lightning import LabelIssuesCallback  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # pickled by name into Lightning's spawned DDP processes
    spec.loader.exec_module(module)
    return module


example = load_example("lightning_sat")


def fit(module, loader, epochs, callback, root, ckpt_path=None, checkpoint=False):
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[callback], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=checkpoint,
                        default_root_dir=root)
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize("start", [2, 50])
def test_the_lightning_recipe_ranks_exactly_as_sat_issues(tmp_path, start):
    run = SatTrainRun(tmp_path / "sat", start)
    cfg = run.cfg
    loader = DataLoader(IndexedDataset(TensorDataset(run.data.train.x, run.labels)), batch_sampler=run.batch_sampler())
    criterion = SelfAdaptiveLoss(run.labels, run.data.num_classes, momentum=0.9, start_epoch=start, variant="sce")
    module = example.SATModule(run.initial_model, criterion, lr=cfg.optim.lr, epochs=cfg.optim.epochs,
                               momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay)
    callback = LabelIssuesCallback(run.labels)
    fit(module, loader, cfg.optim.epochs, callback, tmp_path / "lightning")
    run.assert_same_ranking(callback.issues)
    written = np.genfromtxt(tmp_path / "lightning" / "label_issues.csv", delimiter=",", names=True)
    assert np.array_equal(written["index"].astype(int), run.expected.index)


def small_fit(n: int, epochs: int, lr: float = 0.05, **loader_args):
    """A fresh seeded MLP with SAT from epoch 1 on the first n noisy digits, and its loader."""
    x, labels, _ = example.digits_with_noise()
    x, labels = x[:n], labels[:n]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    criterion = SelfAdaptiveLoss(labels, num_classes=10, momentum=0.8, start_epoch=1)
    loader = DataLoader(IndexedDataset(TensorDataset(x, labels)), **loader_args)
    return example.SATModule(model, criterion, lr=lr, epochs=epochs), loader


def test_a_resumed_lightning_fit_ranks_as_an_uninterrupted_one(tmp_path):
    labels = example.digits_with_noise()[1][:300]

    def fresh(epochs):
        return small_fit(300, epochs, batch_size=50, shuffle=False)

    module, loader = fresh(4)
    whole = LabelIssuesCallback(labels)
    fit(module, loader, 4, whole, tmp_path / "whole")

    module, loader = fresh(4)
    fit(module, loader, 2, LabelIssuesCallback(labels), tmp_path / "part", checkpoint=True)
    ckpt = next((tmp_path / "part").rglob("*.ckpt"))
    module, loader = fresh(4)
    resumed = LabelIssuesCallback(labels)
    fit(module, loader, 4, resumed, tmp_path / "part", ckpt_path=str(ckpt))
    assert int(resumed.tracker.epochs_tracked) == int(whole.tracker.epochs_tracked) >= 2
    for column in ("index", "score", "suggested_label", "first_flagged_epoch"):
        assert np.allclose(getattr(resumed.issues, column), getattr(whole.issues, column), atol=1e-6, rtol=0), column


def test_the_callback_refuses_a_module_without_a_bank(tmp_path):
    class Plain(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="exactly one per-sample loss"):
        LabelIssuesCallback.find_loss(Plain())


def test_the_example_finds_the_flipped_digits(tmp_path):
    found = example.main(["--out", str(tmp_path / "demo"), "--epochs", "12"])
    assert found["auroc"] > 0.9                 # 40% flips on digits; measured 0.99 at 20 epochs
    assert (tmp_path / "demo" / "label_issues.csv").stat().st_size > 1000


class Strided(torch.utils.data.Sampler):
    """Rank r of w takes samples r, r + w, r + 2w, ...: with batch b per rank each step's global batch is
    the 1-process run's batch of w*b (Lightning's own DistributedSampler shuffles)."""

    def __init__(self, n: int):
        self.n = n

    def _shard(self):
        dist = torch.distributed
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        return range(rank, self.n, world)

    def __iter__(self):
        return iter(self._shard())

    def __len__(self):
        return len(self._shard())


def test_two_lightning_ddp_processes_rank_the_labels_as_one(tmp_path, monkeypatch):
    """Lightning's DDP on CPU (gloo, 2 spawned processes): the loss gathers the bank rows and the
    tracker's records across ranks, so rank 0's file ranks every sample as a 1-process fit on the same
    global batches."""
    monkeypatch.syspath_prepend(str(EXAMPLES))      # the spawned processes unpickle SATModule by module name
    labels = example.digits_with_noise()[1][:240]

    def fresh(batch):
        return small_fit(240, 6, lr=0.3, batch_size=batch, sampler=Strided(len(labels)))

    module, loader = fresh(40)
    one = LabelIssuesCallback(labels)
    fit(module, loader, 6, one, tmp_path / "one")

    module, loader = fresh(20)
    trainer = L.Trainer(max_epochs=6, accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
                        use_distributed_sampler=False, callbacks=[LabelIssuesCallback(labels)],
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        default_root_dir=tmp_path / "two")
    trainer.fit(module, loader)
    two = np.genfromtxt(tmp_path / "two" / "label_issues.csv", delimiter=",", names=True)
    assert len(two) == len(labels)
    # the same samples in the same order, by the same scores (reductions add in another order: rounding only)
    assert np.array_equal(two["index"].astype(int), np.asarray(one.issues.index))
    assert np.allclose(two["score"], np.asarray(one.issues.score), atol=1e-5, rtol=0)
    assert np.array_equal(two["suggested_label"].astype(int), np.asarray(one.issues.suggested_label))
    assert one.issues.score.max() - one.issues.score.min() > 0.1      # a ranking, not a constant (0.25 here)
