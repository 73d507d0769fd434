"""Parity of TradesLoss (TRADES, and TRADES+SAT) with docs/method.md §5, written out sample by sample."""
import math

import torch
import torch.nn.functional as F

from selfadaptive.losses import CrossEntropyLoss, SelfAdaptiveLoss, TradesLoss


def reference_kl(z_clean, z_adv):
    """(1/B) sum_i sum_j p_ij (log p_ij - log q_ij), p = softmax(clean), q = softmax(adversarial); float64."""
    total = 0.0
    for i in range(len(z_clean)):
        p = torch.softmax(z_clean[i], 0)
        log_q = torch.log_softmax(z_adv[i], 0)
        total = total + (p * (torch.log(p) - log_q)).sum()
    return total / len(z_clean)


def reference_sat(T, z, y, idx, epoch, start_epoch, alpha):
    """docs/method.md §1 on the clean logits; T (N, K) float64 updated in place."""
    if epoch < start_epoch:
        return sum(-torch.log_softmax(z[i], 0)[y[i]] for i in range(len(y))) / len(y)
    p = torch.softmax(z.detach(), dim=1)
    num = den = 0.0
    for i, row in enumerate(idx.tolist()):                      # update first
        T[row] = alpha * T[row] + (1 - alpha) * p[i]
    for i, row in enumerate(idx.tolist()):
        t = T[row].clone()
        w = t.max()                                             # weight from the updated row
        num = num + w * -(t * torch.log_softmax(z[i], 0)).sum()
        den = den + w
    return num / den


def _pair(g, b, k):
    z = (2 * torch.randn(b, k, generator=g)).requires_grad_(True)
    z_adv = (z.detach() + torch.randn(b, k, generator=g)).requires_grad_(True)
    return z, z_adv


def test_trades_matches_the_formula_value_and_gradients():
    g = torch.Generator().manual_seed(0)
    b, k, beta = 9, 5, 6.0
    z, z_adv = _pair(g, b, k)
    y = torch.randint(0, k, (b,), generator=g)
    loss = TradesLoss(CrossEntropyLoss(), beta=beta)(z, y, torch.arange(b), 0, z_adv)
    rz, rz_adv = (t.detach().double().requires_grad_(True) for t in (z, z_adv))
    ref = sum(-torch.log_softmax(rz[i], 0)[y[i]] for i in range(b)) / b + beta * reference_kl(rz, rz_adv)
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5)
    loss.backward()
    ref.backward()
    # the KL's gradient reaches both passes, as in the TRADES code (p(x) is not detached)
    assert torch.allclose(z.grad.double(), rz.grad, atol=1e-6)
    assert torch.allclose(z_adv.grad.double(), rz_adv.grad, atol=1e-6)
    assert rz.grad.abs().sum() > 0 and rz_adv.grad.abs().sum() > 0


def test_kl_is_summed_over_the_batch_and_divided_by_b():
    g = torch.Generator().manual_seed(1)
    z, z_adv = _pair(g, 6, 4)
    y = torch.zeros(6, dtype=torch.long)
    crit = TradesLoss(CrossEntropyLoss(), beta=1.0)
    kl = crit(z, y, torch.arange(6), 0, z_adv) - F.cross_entropy(z, y)
    per_sample = [reference_kl(z[i:i + 1].double(), z_adv[i:i + 1].double()) for i in range(6)]
    assert math.isclose(kl.item(), (sum(per_sample) / 6).item(), rel_tol=1e-5)
    same = crit(z, y, torch.arange(6), 0, z.detach().clone())      # x' = x: no robust term
    assert math.isclose(same.item(), F.cross_entropy(z, y).item(), abs_tol=1e-6)


def test_trades_sat_matches_the_formula_over_several_epochs():
    """TRADES+SAT: SAT on the clean logits (bank from clean predictions, from E_s on) + beta KL."""
    g = torch.Generator().manual_seed(2)
    n, k, b, alpha, start, beta = 30, 6, 8, 0.9, 1, 6.0
    labels = torch.randint(0, k, (n,), generator=g)
    crit = TradesLoss(SelfAdaptiveLoss(labels, k, momentum=alpha, start_epoch=start), beta=beta)
    T = F.one_hot(labels, k).double()
    for step in range(8):
        epoch = step // 3
        idx = torch.randperm(n, generator=g)[:b]
        z, z_adv = _pair(g, b, k)
        loss = crit(z, labels[idx], idx, epoch, z_adv)
        rz, rz_adv = (t.detach().double().requires_grad_(True) for t in (z, z_adv))
        ref = reference_sat(T, rz, labels[idx], idx, epoch, start, alpha) + beta * reference_kl(rz, rz_adv)
        assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5), step
        loss.backward()
        ref.backward()
        assert torch.allclose(z.grad.double(), rz.grad, atol=1e-5)
        assert torch.allclose(crit.bank().double(), T, atol=1e-6)
    assert not torch.equal(crit.bank(), F.one_hot(labels, k).float())      # the bank did move
    # the bank rides in the state dict under the natural term, and the tracker sees its momentum
    assert "natural.soft_targets" in crit.state_dict()
    assert crit.starts_one_hot and crit.momentum == alpha
    assert TradesLoss(CrossEntropyLoss()).bank() is None
