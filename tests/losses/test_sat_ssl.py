"""Parity of SelfAdaptiveSSLLoss and BYOLLoss with docs/method.md §6, written out sample by sample in float64."""
import numpy as np
import pytest
import torch

from selfadaptive.losses.byol import BYOLLoss
from selfadaptive.losses.sat_ssl import SelfAdaptiveSSLLoss
from selfadaptive.losses.simsiam import SimSiamLoss


def unit(v):
    return v / np.linalg.norm(v)


def cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def reference_step(T, q1, q2, z1, z2, idx, epoch, start_epoch, alpha, cross_view=False):
    """The design of docs/method.md §6, one sample at a time; returns the loss and updates T in place.
    ``cross_view``: view 1's target averages the row with z2 only, view 2's with z1 only."""
    total = 0.0
    for b, i in enumerate(idx):
        zbar = unit(z1[b] + z2[b])
        if epoch < start_epoch:
            T[i] = zbar
            total += (2 - 2 * cos(q1[b], z2[b])) + (2 - 2 * cos(q2[b], z1[b]))
        elif cross_view:
            t1, t2 = unit(alpha * T[i] + (1 - alpha) * z2[b]), unit(alpha * T[i] + (1 - alpha) * z1[b])
            T[i] = unit(alpha * T[i] + (1 - alpha) * zbar)
            total += (2 - 2 * cos(q1[b], t1)) + (2 - 2 * cos(q2[b], t2))
        else:
            T[i] = unit(alpha * T[i] + (1 - alpha) * zbar)
            total += (2 - 2 * cos(q1[b], T[i])) + (2 - 2 * cos(q2[b], T[i]))
    return total / len(idx)


def test_sat_ssl_matches_the_design_over_epochs():
    n, d, alpha, start = 12, 6, 0.7, 1
    rng = np.random.default_rng(0)
    loss_fn = SelfAdaptiveSSLLoss(n, d, momentum=alpha, start_epoch=start, view_target="both_views")
    T = np.zeros((n, d))
    for epoch in range(3):
        for idx in (np.array([0, 3, 5, 7, 9, 11]), np.array([1, 2, 4, 6, 8, 10]), np.array([3, 4, 5])):
            q1, q2, z1, z2 = (rng.normal(size=(len(idx), d)) for _ in range(4))
            expected = reference_step(T, q1, q2, z1, z2, idx, epoch, start, alpha)
            tq1 = torch.tensor(q1, dtype=torch.float32, requires_grad=True)
            got = loss_fn(tq1, torch.tensor(q2, dtype=torch.float32), torch.tensor(z1, dtype=torch.float32),
                          torch.tensor(z2, dtype=torch.float32), torch.tensor(idx), epoch)
            assert got.item() == pytest.approx(expected, rel=1e-5)
            np.testing.assert_allclose(loss_fn.soft_targets.numpy(), T, atol=1e-6)
            # the gradient reaches the predictions and follows the formula (float64 autograd reference)
            got.backward()
            q = torch.tensor(q1, requires_grad=True)
            target = torch.tensor(T[idx]) if epoch >= start else torch.tensor(z2)
            ref = (2 - 2 * torch.nn.functional.cosine_similarity(q, target, dim=1)).sum() / len(idx)
            ref.backward()
            np.testing.assert_allclose(tq1.grad.numpy(), q.grad.numpy(), atol=1e-5)
    assert np.allclose(np.linalg.norm(T, axis=1), 1.0)      # every row seen, every row a unit vector


def test_the_cross_view_target_matches_the_design_and_leaves_out_the_views_own_projection():
    n, d, alpha, start = 10, 5, 0.8, 1
    rng = np.random.default_rng(1)
    loss_fn = SelfAdaptiveSSLLoss(n, d, momentum=alpha, start_epoch=start, view_target="cross_view")
    T = np.zeros((n, d))
    for epoch in range(3):
        for idx in (np.arange(0, n, 2), np.arange(1, n, 2)):
            q1, q2, z1, z2 = (rng.normal(size=(len(idx), d)) for _ in range(4))
            T_before = T[idx].copy()
            expected = reference_step(T, q1, q2, z1, z2, idx, epoch, start, alpha, cross_view=True)
            tq1 = torch.tensor(q1, dtype=torch.float32, requires_grad=True)
            args = [torch.tensor(a, dtype=torch.float32) for a in (q2, z1, z2)]
            got = loss_fn(tq1, *args, torch.tensor(idx), epoch)
            assert got.item() == pytest.approx(expected, rel=1e-5)
            np.testing.assert_allclose(loss_fn.soft_targets.numpy(), T, atol=1e-6)   # the same bank as both_views
            got.backward()
            q = torch.tensor(q1, requires_grad=True)
            t1 = torch.tensor(np.array([unit(alpha * r + (1 - alpha) * z) for r, z in zip(T_before, z2)])) \
                if epoch >= start else torch.tensor(z2)
            ref = (2 - 2 * torch.nn.functional.cosine_similarity(q, t1, dim=1)).sum() / len(idx)
            ref.backward()
            np.testing.assert_allclose(tq1.grad.numpy(), q.grad.numpy(), atol=1e-5)
    # view 1's loss does not move with view 1's own projection z1 (the both_views target does)
    gen = torch.Generator().manual_seed(4)      # seeded: the global stream depends on the tests run before
    q1, q2, z1, z2 = (torch.randn(2, d, generator=gen) for _ in range(4))
    for view_target, moves in (("cross_view", False), ("both_views", True)):
        losses = []
        for z in (z1, -z1):
            fn = SelfAdaptiveSSLLoss(n, d, momentum=alpha, start_epoch=0, view_target=view_target)
            fn.soft_targets.copy_(torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(3)), dim=1))
            q2_away = torch.zeros_like(q2)       # cosine with a zero vector is 0: view 2's term is constant
            losses.append(fn(q1, q2_away, z, z2, torch.tensor([0, 1]), 0).item())
        assert (abs(losses[0] - losses[1]) > 1e-3) == moves, view_target


def test_bank_agreement_is_the_mean_cosine_of_each_projection_with_its_row_before_the_update():
    n, d, alpha = 8, 5, 0.8
    rng = np.random.default_rng(3)
    loss_fn = SelfAdaptiveSSLLoss(n, d, momentum=alpha, start_epoch=2)
    T = np.zeros((n, d))
    assert loss_fn.epoch_agreement() is None
    for epoch in range(4):
        cosines = []
        for idx in (np.array([0, 2, 4, 6]), np.array([1, 3, 5]), np.array([7, 0])):    # sample 0 twice an epoch
            q1, q2, z1, z2 = (rng.normal(size=(len(idx), d)) for _ in range(4))
            for b, i in enumerate(idx):
                zbar = unit(z1[b] + z2[b])
                if T[i].any():              # rows never written (the bank starts at zero) do not count
                    cosines.append(float(T[i] @ zbar))
                T[i] = zbar if epoch < 2 else unit(alpha * T[i] + (1 - alpha) * zbar)
            loss_fn(*(torch.tensor(v, dtype=torch.float32) for v in (q1, q2, z1, z2)), torch.tensor(idx), epoch)
        got = loss_fn.epoch_agreement()
        assert got == pytest.approx(np.mean(cosines), abs=1e-6)
        assert loss_fn.epoch_agreement() is None        # read and reset
    np.testing.assert_allclose(loss_fn.soft_targets.numpy(), T, atol=1e-6)


def test_auto_start_is_byol_until_the_learning_rate_halves_then_the_fixed_start_it_chose():
    n, d = 10, 4
    lrs = [0.1, 0.09, 0.07, 0.05, 0.03, 0.01]          # at most half the first from epoch 3: SAT from epoch 4
    auto, fixed = SelfAdaptiveSSLLoss(n, d, start_epoch="auto"), SelfAdaptiveSSLLoss(n, d, start_epoch=4)
    byol = BYOLLoss()
    g = torch.Generator().manual_seed(0)
    for epoch, lr in enumerate(lrs):
        for idx in (torch.arange(0, 5), torch.arange(5, 10)):
            q1, q2, z1, z2 = (torch.randn(5, d, generator=g) for _ in range(4))
            got, want = auto(q1, q2, z1, z2, idx, epoch), fixed(q1, q2, z1, z2, idx, epoch)
            assert torch.equal(got, want) and torch.equal(auto.soft_targets, fixed.soft_targets)
            if epoch < 4:
                assert torch.equal(got, byol(q1, q2, z1, z2, idx, epoch))
        assert auto.start_epoch_chosen == (None if epoch < 4 else 4)
        auto.observe_learning_rate(epoch, lr)
        fixed.observe_learning_rate(epoch, lr)      # ignored by a fixed start
    restored = SelfAdaptiveSSLLoss(n, d, start_epoch="auto")
    restored.load_state_dict(auto.state_dict())
    assert restored.start_epoch_chosen == 4
    never = SelfAdaptiveSSLLoss(n, d, start_epoch="auto")        # a constant rate never halves: BYOL throughout
    for epoch in range(6):
        never(*(torch.randn(5, d, generator=g) for _ in range(4)), torch.arange(5), epoch)
        never.observe_learning_rate(epoch, 0.1)
    assert never.start_epoch_chosen is None
    with pytest.raises(ValueError, match="auto_rule"):
        SelfAdaptiveSSLLoss(n, d, start_epoch="auto", auto_rule="changes_slowdown")       # needs labels
    with pytest.raises(ValueError, match="start_epoch"):
        SelfAdaptiveSSLLoss(n, d, start_epoch="later")


def test_a_checkpoint_from_before_the_agreement_loads():
    old = SelfAdaptiveSSLLoss(6, 3).state_dict()
    del old["agreement_sums"]
    loss_fn = SelfAdaptiveSSLLoss(6, 3)
    loss_fn.load_state_dict(old)
    assert loss_fn.epoch_agreement() is None


def test_sat_ssl_refuses_an_unknown_view_target():
    with pytest.raises(ValueError, match="view_target"):
        SelfAdaptiveSSLLoss(5, 3, view_target="own_view")


def test_sat_ssl_bank_is_state_and_no_gradient_reaches_targets():
    loss_fn = SelfAdaptiveSSLLoss(5, 3, momentum=0.9, start_epoch=0, bank_dtype=torch.bfloat16)
    assert "soft_targets" in loss_fn.state_dict() and loss_fn.bank().dtype == torch.bfloat16
    z = torch.randn(2, 3, requires_grad=True)
    loss = loss_fn(torch.randn(2, 3, requires_grad=True), torch.randn(2, 3), z, torch.randn(2, 3),
                   torch.tensor([0, 4]), 0)
    loss.backward()
    assert z.grad is None
    with pytest.raises(ValueError):
        SelfAdaptiveSSLLoss(5, 3, momentum=1.5)


def test_byol_is_the_symmetric_cosine_regression():
    rng = np.random.default_rng(1)
    q1, q2, z1, z2 = (rng.normal(size=(4, 5)) for _ in range(4))
    expected = np.mean([(2 - 2 * cos(q1[b], z2[b])) + (2 - 2 * cos(q2[b], z1[b])) for b in range(4)])
    t = lambda a: torch.tensor(a, dtype=torch.float32)     # noqa: E731
    got = BYOLLoss()(t(q1), t(q2), t(z1), t(z2), torch.arange(4), 0)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert BYOLLoss().bank() is None


def test_simsiam_is_the_symmetric_negative_cosine_with_stop_gradient():
    rng = np.random.default_rng(2)
    q1, q2, z1, z2 = (rng.normal(size=(4, 5)) for _ in range(4))
    expected = np.mean([-0.5 * cos(q1[b], z2[b]) - 0.5 * cos(q2[b], z1[b]) for b in range(4)])
    t = lambda a: torch.tensor(a, dtype=torch.float32, requires_grad=True)     # noqa: E731
    p1, p2, y1, y2 = t(q1), t(q2), t(z1), t(z2)
    got = SimSiamLoss()(p1, p2, y1, y2, torch.arange(4), 0)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    got.backward()
    assert y1.grad is None and y2.grad is None and p1.grad.abs().sum() > 0
    # a prediction along the other view's projection scores the minimum, -1
    z = torch.randn(3, 5)
    assert SimSiamLoss()(2 * z, 3 * z, z, z, torch.arange(3), 0).item() == pytest.approx(-1.0, abs=1e-6)


def test_the_cross_view_target_is_the_default_everywhere():
    from selfadaptive.config import load_config
    from selfadaptive.config.presets import preset_paths
    assert SelfAdaptiveSSLLoss(5, 3).view_target == "cross_view"
    assert load_config(preset_paths()["cifar10sub-ssl-cnn-sat"]).loss.view_target == "cross_view"
