"""Each baseline loss against its formula, written out per sample."""
import math

import pytest
import torch
import torch.nn.functional as F

from selfadaptive.losses import (
    CrossEntropyLoss,
    EarlyLearningRegularizationLoss,
    GeneralizedCrossEntropyLoss,
    SoftBootstrapLoss,
    SymmetricCrossEntropyLoss,
)

K = 5


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(8, K, generator=g)
    y = torch.randint(0, K, (8,), generator=g)
    return logits, y, torch.arange(8)


def per_sample_mean(fn, logits, y):
    return sum(fn(logits[i].double(), int(y[i])) for i in range(len(y))) / len(y)


def softmax(z):
    return torch.softmax(z, 0)


def test_ce(batch):
    logits, y, idx = batch
    ref = per_sample_mean(lambda z, c: -torch.log(softmax(z)[c]), logits, y)
    assert CrossEntropyLoss()(logits, y, idx, 0).item() == pytest.approx(ref.item(), abs=1e-6)


def test_gce_q07(batch):
    logits, y, idx = batch
    ref = per_sample_mean(lambda z, c: (1 - softmax(z)[c] ** 0.7) / 0.7, logits, y)
    assert GeneralizedCrossEntropyLoss()(logits, y, idx, 0).item() == pytest.approx(ref.item(), abs=1e-6)


def test_sce_alpha01_beta1(batch):
    logits, y, idx = batch
    # RCE with log(0) := log(1e-4): -sum_{j != y} p_j log 1e-4 = -log(1e-4) * (1 - p_y)
    ref = per_sample_mean(lambda z, c: 0.1 * -torch.log(softmax(z)[c]) - math.log(1e-4) * (1 - softmax(z)[c]), logits, y)
    assert SymmetricCrossEntropyLoss()(logits, y, idx, 0).item() == pytest.approx(ref.item(), abs=1e-5)


def test_soft_bootstrap_beta095(batch):
    logits, y, idx = batch
    def one(z, c):
        p = softmax(z)
        t = 0.95 * F.one_hot(torch.tensor(c), K).double() + 0.05 * p
        return -(t * torch.log(p)).sum()
    ref = per_sample_mean(one, logits, y)
    assert SoftBootstrapLoss()(logits, y, idx, 0).item() == pytest.approx(ref.item(), abs=1e-6)


def test_elr_lambda3_beta07_over_steps():
    g = torch.Generator().manual_seed(1)
    n = 20
    crit = EarlyLearningRegularizationLoss(n, K)
    T = torch.zeros(n, K, dtype=torch.float64)
    for step in range(5):
        idx = torch.randperm(n, generator=g)[:8]
        logits = torch.randn(8, K, generator=g, requires_grad=True)
        y = torch.randint(0, K, (8,), generator=g)
        loss = crit(logits, y, idx, step)
        ref_logits = logits.detach().double().requires_grad_(True)
        terms = []
        for i, row in enumerate(idx.tolist()):
            p = softmax(ref_logits[i]).clamp(1e-4, 1 - 1e-4)
            pd = p.detach()
            T[row] = 0.7 * T[row] + 0.3 * pd / pd.sum()
            terms.append(-torch.log_softmax(ref_logits[i], 0)[y[i]] + 3.0 * torch.log(1 - (T[row].clone() * p).sum()))
        ref = sum(terms) / len(terms)
        loss.backward()
        ref.backward()
        assert loss.item() == pytest.approx(ref.item(), abs=1e-5)
        assert torch.allclose(logits.grad.double(), ref_logits.grad, atol=1e-6)
        assert torch.allclose(crit.soft_targets.double(), T, atol=1e-6)
