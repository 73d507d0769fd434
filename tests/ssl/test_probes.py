"""kNN and linear probes on separable toy data, and the collapse monitor."""
import numpy as np
import pytest
import torch
from torch import nn

from selfadaptive.ssl.probes import collapse_metrics, collapse_warning, knn_predict, linear_probe


def _clusters(n, seed, k=3, d=8):
    rng = np.random.default_rng(seed)
    centers = np.eye(d)[:k] * 5
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_knn_on_separable_clusters_and_against_brute_force():
    xtr, ytr = _clusters(300, 0)
    xte, yte = _clusters(100, 1)
    pred = knn_predict(torch.tensor(xtr), torch.tensor(ytr), torch.tensor(xte), 3, k=20, temperature=0.1, chunk=33)
    assert (pred.numpy() == yte).mean() == 1.0
    # brute force of the weighted vote on a small case
    a = torch.randn(30, 4)
    la = torch.randint(0, 3, (30,))
    b = torch.randn(7, 4)
    pred = knn_predict(a, la, b, 3, k=5, temperature=0.5)
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    for i in range(7):
        sim = an @ bn[i]
        top = sim.topk(5).indices
        votes = torch.zeros(3).index_add_(0, la[top], (sim[top] / 0.5).exp())
        assert pred[i] == votes.argmax()


def test_linear_probe_on_separable_clusters():
    xtr, ytr = _clusters(300, 0)
    xte, yte = _clusters(100, 1)
    out = linear_probe(xtr, ytr, xte, yte)
    assert out["test_acc"] >= 0.95 and out["train_acc"] >= 0.95


def test_collapse_metrics_and_warning():
    healthy = collapse_metrics(torch.randn(512, 32, generator=torch.Generator().manual_seed(0)))
    assert 0.9 < healthy["embedding_std_ratio"] < 1.1 and healthy["effective_rank"] > 25
    assert collapse_warning(healthy) is None
    constant = collapse_metrics(torch.ones(512, 32) * torch.randn(1, 32))
    assert constant["embedding_std"] == pytest.approx(0.0, abs=1e-6)
    assert constant["effective_rank"] == pytest.approx(1.0, abs=1e-3)
    assert "collapsing" in collapse_warning(constant)


def test_monitor_flags_a_constant_encoder():
    from selfadaptive.ssl.networks import SiameseNetwork
    from selfadaptive.ssl.pretrain import monitor

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.v = nn.Parameter(torch.randn(16))

        def forward(self, x):
            return self.v.expand(x.shape[0], -1)

    net = SiameseNetwork(Constant(), 16, dim=8, hidden=32, target_momentum=0.0)
    metrics = monitor(net, torch.rand(64, 1, 8, 8), torch.device("cpu"), 32)
    assert collapse_warning(metrics) is not None and metrics["effective_rank"] < 1.01
