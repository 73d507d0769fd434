"""The training passes' per-sample probabilities (label issues without SAT) are computed a chunk at
a time, not per step: the values must equal the per-step ones bit for bit."""
from types import SimpleNamespace

import torch

from selfadaptive.issues.tracker import prediction_record
from selfadaptive.training import session
from selfadaptive.training.session import flush_pass_records, record_pass


def _session(labels, num_classes):
    n = len(labels)
    return SimpleNamespace(pending=[], y_train=labels, data=SimpleNamespace(num_classes=num_classes),
                           train_given_prob=torch.zeros(n), train_pred_prob=torch.zeros(n))


def test_chunked_probabilities_equal_per_step_ones(monkeypatch):
    torch.manual_seed(0)
    n, k = 203, 7
    labels = torch.randint(0, k, (n,))
    order = torch.randperm(n)
    batches = list(order.split(32))                      # the last batch is short
    logits = [torch.randn(len(b), k + 1) * 4 for b in batches]     # one abstain column, which never votes
    want_given, want_pred = torch.zeros(n), torch.zeros(n)
    for idx, z in zip(batches, logits):
        given, _, top = prediction_record(z, labels[idx], k)
        want_given[idx], want_pred[idx] = given, top
    monkeypatch.setattr(session, "PENDING_ELEMENTS", 3 * 32 * (k + 1))    # flushes mid-epoch too
    s = _session(labels, k)
    for step, (idx, z) in enumerate(zip(batches, logits)):
        record_pass(s, z, idx)
        assert len(s.pending) == (step + 1) % 3       # a flush every third batch
    flush_pass_records(s)
    assert not s.pending
    assert torch.equal(s.train_given_prob, want_given) and torch.equal(s.train_pred_prob, want_pred)
    assert (s.train_pred_prob >= s.train_given_prob).all() and (s.train_pred_prob > 0).all()
