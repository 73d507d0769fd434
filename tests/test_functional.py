import pytest
import torch

from selfadaptive import functional as SF


def test_ema_update_and_weights():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    new = SF.ema_update(t, p, 0.9)
    assert torch.allclose(new, torch.tensor([[0.92, 0.08], [0.05, 0.95]]))
    assert torch.allclose(SF.confidence_weights(new), torch.tensor([0.92, 0.95]))
    # rows stay on the simplex
    assert torch.allclose(new.sum(1), torch.ones(2))


def test_ema_update_is_float32_for_low_precision_rows():
    t = torch.ones(2, 3, dtype=torch.bfloat16) / 3
    assert SF.ema_update(t, torch.ones(2, 3) / 3, 0.9).dtype == torch.float32


def test_soft_ce():
    logits = torch.zeros(1, 4)
    assert abs(SF.soft_cross_entropy(logits, torch.full((1, 4), 0.25)).item() - torch.log(torch.tensor(4.0)).item()) < 1e-6


def test_target_recovery_counts_only_noisy_rows():
    bank = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    clean = torch.tensor([0, 0, 1])
    noisy = torch.tensor([False, True, True])
    assert SF.target_recovery(bank, clean, noisy) == 0.0
    assert SF.target_recovery(bank, torch.tensor([0, 1, 0]), noisy) == 1.0
    assert SF.target_recovery(bank, clean, torch.zeros(3, dtype=torch.bool)) != SF.target_recovery(bank, clean, noisy)



@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: a host bank read from the device")
def test_host_bank_rows_travel_to_the_device_and_back():
    from selfadaptive.functional import bank_rows, store_rows
    bank = torch.rand(100, 5).to(torch.bfloat16).pin_memory()
    idx = torch.tensor([3, 7, 50], device="cuda")
    rows = bank_rows(bank, idx)
    assert rows.device.type == "cuda" and rows.dtype == torch.float32
    assert torch.equal(rows.cpu(), bank[idx.cpu()].float())
    store_rows(bank, idx, torch.zeros(3, 5, device="cuda"))
    assert bank.device.type == "cpu" and bank[[3, 7, 50]].abs().sum() == 0


def test_ema_update_equals_the_two_product_form_to_rounding():
    g = torch.Generator().manual_seed(0)
    t = torch.softmax(3 * torch.randn(256, 7, generator=g), 1)
    p = torch.softmax(3 * torch.randn(256, 7, generator=g), 1)
    for a in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert torch.allclose(SF.ema_update(t, p, a), a * t + (1 - a) * p, rtol=0, atol=2e-7)
    assert torch.equal(SF.ema_update(t, p, 1.0), t) and torch.equal(SF.ema_update(t, p, 0.0), p)


def test_soft_nll_is_soft_cross_entropy_on_log_probabilities():
    g = torch.Generator().manual_seed(1)
    logits, t = torch.randn(32, 5, generator=g), torch.softmax(torch.randn(32, 5, generator=g), 1)
    assert torch.equal(SF.soft_nll(torch.log_softmax(logits, 1), t), SF.soft_cross_entropy(logits, t))


def test_per_class_accuracy_is_each_class_recall_and_nan_for_an_absent_class():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 3])
    pred = torch.tensor([0, 0, 0, 1, 0, 1, 2])
    recall = SF.per_class_accuracy(pred, labels, 4)
    assert recall[:2].tolist() == [0.75, 0.5] and recall[3].item() == 0.0
    assert recall[2].isnan()            # no sample of class 2: no recall, not 0
