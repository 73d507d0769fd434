"""Parity of SelfAdaptiveLoss with docs/method.md §1, written out sample by sample in float64."""
import pytest
import torch
import torch.nn.functional as F

from selfadaptive import SelfAdaptiveLoss


def reference_step(T, logits, y, idx, epoch, start_epoch, alpha, variant="ce", a=1.0, b=0.3):
    """One step of the paper's rule.  T: (N, K) float64 table, modified in place.  Returns the loss
    (a float64 scalar with a graph back to ``logits``)."""
    z = logits.double()
    if epoch < start_epoch:
        return sum(-torch.log_softmax(z[i], 0)[y[i]] for i in range(len(y))) / len(y)
    p = torch.softmax(z.detach(), dim=1)
    for i, row in enumerate(idx.tolist()):                     # 1. update first
        T[row] = alpha * T[row] + (1 - alpha) * p[i]
    num, den = 0.0, 0.0
    for i, row in enumerate(idx.tolist()):
        t = T[row]
        w = t.max()                                            # 2. weight from the updated row
        log_p = torch.log_softmax(z[i], 0)
        ell = -(t * log_p).sum()
        if variant == "sce":
            ell = a * ell - b * (torch.softmax(z[i], 0) * torch.log(t)).sum()     # the authors' log T, no floor
        num = num + w * ell
        den = den + w
    return num / den                                           # 3. normalised by the weight sum


def _compare_run(variant, steps, n=40, k=7, start_epoch=2, alpha=0.9, batch=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    crit = SelfAdaptiveLoss(labels, k, momentum=alpha, start_epoch=start_epoch, variant=variant)
    T = F.one_hot(labels, k).double()
    for s in range(steps):
        epoch = s // 2
        idx = torch.randperm(n, generator=g)[:batch]          # rows recur across steps
        logits = (3 * torch.randn(batch, k, generator=g)).requires_grad_(True)
        ref_logits = logits.detach().double().requires_grad_(True)
        loss = crit(logits, labels[idx], idx, epoch)
        ref = reference_step(T, ref_logits, labels[idx], idx, epoch, start_epoch, alpha, variant)
        loss.backward()
        ref.backward()
        assert loss.item() == pytest.approx(ref.item(), abs=1e-6), f"step {s}"
        assert torch.allclose(logits.grad.double(), ref_logits.grad, atol=1e-6), f"step {s}"
        assert torch.allclose(crit.soft_targets.double(), T, atol=1e-6), f"step {s}"
    return crit, T


def test_parity_ce_variant_over_warmup_and_repeated_rows():
    crit, T = _compare_run("ce", steps=10)
    assert not torch.equal(T, F.one_hot(T.argmax(1), T.shape[1]).double())   # the bank did move


def test_parity_sce_variant():
    crit, T = _compare_run("sce", steps=10, seed=1)
    # the parity must cover entries below 1e-4, where a clamp at 1e-4 (the old guard) changed the loss
    moved = T[(T.sum(1) - T.max(1).values) > 0]
    assert (moved < 1e-4).any() and (moved > 0).all()


def test_warmup_is_plain_cross_entropy_and_leaves_bank_untouched():
    labels = torch.tensor([0, 1, 2, 1])
    crit = SelfAdaptiveLoss(labels, 3, start_epoch=5)
    before = crit.soft_targets.clone()
    logits = torch.randn(4, 3)
    loss = crit(logits, labels, torch.arange(4), epoch=4)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)  # mean of per-sample terms: float rounding only
    assert torch.equal(crit.soft_targets, before)


def test_first_sat_step_uses_updated_rows_not_old_ones():
    # with alpha = 0 the updated row equals p, so the loss is the entropy-weighted form of p itself
    labels = torch.tensor([0, 1])
    crit = SelfAdaptiveLoss(labels, 2, momentum=0.0, start_epoch=0)
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
    loss = crit(logits, labels, torch.tensor([0, 1]), 0)
    p = logits.softmax(1)
    w = p.max(1).values
    expected = (w * -(p * p.log()).sum(1)).sum() / w.sum()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert torch.allclose(crit.soft_targets, p)


def test_gradient_flows_only_through_log_softmax():
    labels = torch.tensor([0, 1, 2])
    crit = SelfAdaptiveLoss(labels, 3, start_epoch=0)
    logits = torch.randn(3, 3, requires_grad=True)
    crit(logits, labels, torch.arange(3), 0).backward()
    rows = crit.soft_targets.clone()
    w = rows.max(1).values
    manual = (w[:, None] * (logits.detach().softmax(1) - rows)) / w.sum()
    assert torch.allclose(logits.grad, manual, atol=1e-6)
    assert not crit.soft_targets.requires_grad


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_bank_saves_memory_and_tracks_float32(dtype):
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 10, (200,), generator=g)
    ref = SelfAdaptiveLoss(labels, 10, start_epoch=0)
    low = SelfAdaptiveLoss(labels, 10, start_epoch=0, bank_dtype=dtype)
    assert low.soft_targets.dtype == dtype
    assert low.soft_targets.element_size() * 2 == ref.soft_targets.element_size()
    for _ in range(20):
        idx = torch.randperm(200, generator=g)[:64]
        logits = torch.randn(64, 10, generator=g)
        l_ref = ref(logits, labels[idx], idx, 1)
        l_low = low(logits.to(dtype), labels[idx], idx, 1)
        assert l_low.dtype == torch.float32                  # arithmetic in float32
        assert l_low.item() == pytest.approx(l_ref.item(), rel=2e-2)
    assert torch.allclose(low.soft_targets.float(), ref.soft_targets, atol=2e-2)


def test_bank_is_a_buffer_carried_by_state_dict_and_to():
    labels = torch.tensor([0, 1, 1])
    crit = SelfAdaptiveLoss(labels, 2, start_epoch=0)
    crit(torch.randn(3, 2), labels, torch.arange(3), 0)
    state = crit.state_dict()
    assert "soft_targets" in state and state["soft_targets"].shape == (3, 2)
    fresh = SelfAdaptiveLoss(labels, 2, start_epoch=0)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.soft_targets, crit.soft_targets)
    assert crit.to(torch.float64).soft_targets.dtype == torch.float64   # .to() moves buffers


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SelfAdaptiveLoss(torch.tensor([0]), 2, variant="mse")
    with pytest.raises(ValueError):
        SelfAdaptiveLoss(torch.tensor([0]), 2, momentum=1.5)
