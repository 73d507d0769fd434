"""Selective classification: loss parity with the formulas, metrics on hand-computed cases, the
bisection, degenerate abstainers, and `sat selective` end to end."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_cli import assert_one_line_error, sat

from selfadaptive.config import load_config
from selfadaptive.errors import UserError
from selfadaptive.losses import DeepGamblersLoss, SelectiveNetLoss, SelectiveSATLoss
from selfadaptive.selective.metrics import (
    augrc,
    aurc,
    bisect_threshold,
    coverage_and_risk,
    deployable_protocol,
    e_aurc,
    paper_protocol,
    risk_coverage_curve,
    selective_outputs,
    threshold_for_risk,
)

# ---- losses ------------------------------------------------------------------------------------

def test_selective_sat_matches_the_paper_formula():
    """docs/method.md §4: CE on the first K during pretraining; then update T first, target
    T[y] on y and 1 - T[y] on abstain, CE over K + 1, no re-weighting."""
    g = torch.Generator().manual_seed(0)
    k, a = 3, 0.8
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = SelectiveSATLoss(labels, k, momentum=a, start_epoch=2)
    idx = torch.tensor([4, 0, 2])
    y = labels[idx]
    logits = torch.randn(3, k + 1, generator=g, requires_grad=True)
    # pretraining: plain CE on the first K logits, bank untouched
    assert loss(logits, y, idx, epoch=1).item() == pytest.approx(F.cross_entropy(logits[:, :k], y).item())
    assert torch.equal(loss.soft_targets, F.one_hot(labels, k).float())
    # reference, written out
    t = F.one_hot(labels, k).float()
    p = F.softmax(logits.detach()[:, :k], dim=1)
    t[idx] = a * t[idx] + (1 - a) * p
    target = torch.zeros(3, k + 1)
    target[torch.arange(3), y] = t[idx, y]
    target[:, k] = 1 - t[idx, y]
    expected = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    got = loss(logits, y, idx, epoch=2)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.testing.assert_close(loss.soft_targets, t)
    got.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_selective_sat_auto_ends_pretraining_where_the_prediction_changes_slow_down():
    """start_epoch="auto" in the selective loss: the first K outputs' predicted classes change for
    m = 60, 20, 16 of N = 100 samples at epochs 1-3 (PC 0.6, 0.2, 0.16: the fall halves at epoch
    3), so pretraining (CE on the first K) ends and the abstain target starts at epoch 4; the abstain
    logit never votes, however large."""
    n, k = 100, 4
    labels = torch.arange(n) % k
    loss = SelectiveSATLoss(labels, k, start_epoch="auto")
    pred = labels.clone()
    for epoch in range(6):
        m = {1: 60, 2: 20, 3: 16, 4: 12, 5: 8}.get(epoch, 0)
        pred[:m] = (pred[:m] + 1) % k
        for idx in torch.arange(n).split(50):
            logits = torch.cat([F.one_hot(pred[idx], k).float() * 5, torch.full((len(idx), 1), 50.0)], dim=1)
            got = loss(logits, labels[idx], idx, epoch)
            if epoch < 4:
                assert got.item() == pytest.approx(F.cross_entropy(logits[:, :k], labels[idx]).item(), rel=1e-6)
                assert torch.equal(loss.soft_targets, F.one_hot(labels, k).float())
    assert loss.start_epoch_chosen == 4 and loss.auto.prediction_changes() == pytest.approx([0.6, 0.2, 0.16])
    assert not torch.equal(loss.soft_targets, F.one_hot(labels, k).float())


def test_selective_sat_auto_in_a_run_writes_the_chosen_epoch(tmp_path):
    from selfadaptive import train
    summary = train(load_config(None, RUN + ["loss.name=sat_selective", "loss.start_epoch=auto", "optim.epochs=6"]),
                    tmp_path / "run", quiet=True)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    chosen = summary["start_epoch_chosen"]
    assert summary["start_epoch"] == "auto" and chosen is not None and 2 < chosen < 6
    assert [r["sat_started"] for r in rows] == [e >= chosen for e in range(6)]
    assert summary["test_augrc_last"] == rows[-1]["test_augrc"]
    with pytest.raises(UserError, match="chooses the start of sat_selective; loss.name=gambler needs a number"):
        load_config(None, RUN + ["loss.name=gambler", "loss.start_epoch=auto"])


def test_selective_sat_starting_beyond_the_run_is_said(tmp_path, capsys):
    """A pretraining longer than the run leaves selective SAT as plain CE: warned, not silent."""
    from selfadaptive import train
    train(load_config(None, RUN + ["loss.name=sat_selective", "loss.start_epoch=3", "optim.epochs=2"]), tmp_path / "r")
    out = capsys.readouterr().out
    assert "loss.start_epoch=3 but the run has 2 epochs" in out and "abstain class is never trained" in out


def test_deep_gamblers_matches_its_formula():
    g = torch.Generator().manual_seed(1)
    k, o = 4, 2.2
    logits = torch.randn(5, k + 1, generator=g)
    y = torch.tensor([0, 3, 1, 2, 0])
    loss = DeepGamblersLoss(k, reward=o, start_epoch=1)
    assert loss(logits, y, torch.arange(5), 0).item() == pytest.approx(F.cross_entropy(logits[:, :k], y).item())
    p = F.softmax(logits, dim=1)
    expected = -torch.log(p[torch.arange(5), y] + p[:, k] / o).mean()
    assert loss(logits, y, torch.arange(5), 1).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="reward"):
        DeepGamblersLoss(k, reward=1.0)


def test_selectivenet_matches_its_formula():
    """Geifman & El-Yaniv (2019): alpha * (r(f, g) + lambda * max(0, c - phi(g))^2) + (1 - alpha) * CE(h)."""
    g = torch.Generator().manual_seed(2)
    k, c, lam, alpha = 3, 0.9, 32.0, 0.5
    logits = torch.randn(6, 2 * k + 1, generator=g, requires_grad=True)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    loss = SelectiveNetLoss(k, coverage=c, lam=lam, alpha=alpha)
    sel = torch.sigmoid(logits[:, k])
    ce = torch.stack([-F.log_softmax(logits[i, :k], dim=0)[y[i]] for i in range(6)])
    phi = sel.sum() / 6
    risk = (ce * sel).sum() / 6 / phi
    aux = torch.stack([-F.log_softmax(logits[i, k + 1:], dim=0)[y[i]] for i in range(6)]).mean()
    expected = alpha * (risk + lam * max(0.0, c - phi.item()) ** 2) + (1 - alpha) * aux
    got = loss(logits, y, torch.arange(6), 0)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    got.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[:, k].abs().sum() > 0      # the selection head learns
    # above the target coverage the penalty is off
    high = torch.cat([torch.randn(4, k), torch.full((4, 1), 10.0), torch.randn(4, k)], dim=1)
    yy = torch.tensor([0, 1, 2, 0])
    ce_f = F.cross_entropy(high[:, :k], yy, reduction="none")
    s = torch.sigmoid(high[:, k])
    want = 0.5 * ((ce_f * s).mean() / s.mean()) + 0.5 * F.cross_entropy(high[:, k + 1:], yy)
    assert loss(high, yy, torch.arange(4), 0).item() == pytest.approx(want.item(), rel=1e-5)
    with pytest.raises(ValueError, match="coverage"):
        SelectiveNetLoss(k, coverage=0.0)
    # scoring: the prediction head votes, the selection head's sigmoid is the confidence
    pred, conf = selective_outputs(high.numpy(), k)
    assert np.array_equal(pred, high[:, :k].argmax(1).numpy()) and np.allclose(conf, 1 / (1 + np.exp(-10.0)))


# ---- metrics -----------------------------------------------------------------------------------

def test_aurc_by_hand_and_matching_torch_uncertainty():
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 0, 1, 1], dtype=bool)
    # running risk 0, 1/2, 1/3, 1/4 at coverage 1/4..1; trapezoid / (1 - 1/4)
    expected = 0.25 * ((0 + 0.5) / 2 + (0.5 + 1 / 3) / 2 + (1 / 3 + 0.25) / 2) / 0.75
    assert aurc(conf, correct) == pytest.approx(expected)
    # oracle: the error last -> risks 0, 0, 0, 1/4
    assert e_aurc(conf, correct) == pytest.approx(expected - 0.25 * 0.125 / 0.75)
    # torch-uncertainty's AURC, written out from its definition (sorted errors, cumsum / k, trapz, / (1 - 1/N))
    rng = np.random.default_rng(0)
    conf, correct = rng.random(200), rng.random(200) < 0.8
    errors = (~correct)[np.argsort(-conf)].astype(float)
    risk = np.cumsum(errors) / np.arange(1, 201)
    cov = np.arange(1, 201) / 200
    tu = np.sum((risk[1:] + risk[:-1]) / 2 * np.diff(cov)) / (1 - 1 / 200)
    assert aurc(conf, correct) == pytest.approx(tu)
    assert np.isnan(aurc([0.5], [True]))


def test_augrc_by_hand_and_the_papers_closed_form():
    """Traub et al. 2024: AUGRC = err^2 / 2 + err * acc * (1 - AUROC_f), AUROC_f the AUROC of the
    confidence for correct vs wrong (scikit-learn's, ties counted 1/2)."""
    from sklearn.metrics import roc_auc_score
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 0, 1, 1], dtype=bool)
    # generalized risk (accepted errors / N) 0, 1/4, 1/4, 1/4 at coverage 1/4..1, from (0, 0)
    assert augrc(conf, correct) == pytest.approx(0.25 * (0 + 0.125 + 0.25 + 0.25))
    # closed form: err 1/4, acc 3/4, AUROC_f 1/3 (the error outranks two of the three correct)
    assert augrc(conf, correct) == pytest.approx(0.25 ** 2 / 2 + 0.25 * 0.75 * 2 / 3)

    def closed_form(conf, correct):
        err = 1 - correct.mean()
        return err ** 2 / 2 + err * (1 - err) * (1 - roc_auc_score(correct, conf))

    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.7
    conf = rng.random(500) + 0.3 * correct                   # informative: correct ones score higher
    assert augrc(conf, correct) == pytest.approx(closed_form(conf, correct), abs=1e-12)
    ties = np.round(conf, 1)                                # many exact ties: grouped points, still exact
    assert augrc(ties, correct) == pytest.approx(closed_form(ties, correct), abs=1e-12)
    # the oracle ordering reaches the floor err^2 / 2; the reversed one the ceiling err^2 / 2 + err * acc
    err = 1 - correct.mean()
    assert augrc(correct.astype(float), correct) == pytest.approx(err ** 2 / 2)
    assert augrc(-correct.astype(float), correct) == pytest.approx(err ** 2 / 2 + err * (1 - err))
    assert np.isnan(augrc([], []))


def test_curve_groups_ties_and_every_point_is_reachable():
    conf = np.array([0.9, 0.5, 0.5, 0.2])
    correct = np.array([1, 0, 1, 0], dtype=bool)
    c = risk_coverage_curve(conf, correct)
    assert c["thresholds"].tolist() == [0.9, 0.5, 0.2]
    assert c["coverage"].tolist() == [0.25, 0.75, 1.0]
    assert c["risk"].tolist() == pytest.approx([0.0, 1 / 3, 0.5])
    for t, cov, risk in zip(c["thresholds"], c["coverage"], c["risk"]):
        assert coverage_and_risk(conf, correct, t) == pytest.approx((cov, risk))


def test_bisection_finds_the_cut():
    conf = np.linspace(0.0, 1.0, 101)          # 101 distinct values
    for target in (1.0, 0.95, 0.9, 0.5, 0.01):
        t = bisect_threshold(conf, target)
        accepted = (conf >= t).sum()
        assert accepted == int(np.ceil(target * 101))      # the smallest set with coverage >= target
        assert t in conf
    assert bisect_threshold(conf, 0.0) == float("inf")
    # ties at the cut: every tied sample is accepted together
    tied = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    assert bisect_threshold(tied, 0.4) == 0.5 and (tied >= 0.5).mean() == 0.8
    with pytest.raises(ValueError):
        bisect_threshold(conf, 1.5)


def test_degenerate_abstainers_give_defined_output():
    """A model that abstains on everything (constant confidence) or on nothing."""
    k = 3
    everything = np.tile([0.0, 0.0, 0.0, 50.0], (10, 1))      # p_abstain ~ 1 for every sample
    pred, conf = selective_outputs(everything, k)
    correct = pred == np.arange(10) % 3
    assert np.allclose(conf, conf[0])
    a = aurc(conf, correct)
    assert np.isfinite(a)
    c = risk_coverage_curve(conf, correct)
    assert c["coverage"].tolist() == [1.0]                     # all or nothing
    assert coverage_and_risk(conf, correct, bisect_threshold(conf, 0.5)) == (1.0, pytest.approx(1 - correct.mean()))
    assert coverage_and_risk(conf, correct, float("inf")) == (0.0, 0.0)
    # nothing can reach 0 risk when every prediction is wrong
    assert threshold_for_risk(conf, np.zeros(10, bool), 0.0) == float("inf")
    d = deployable_protocol(conf, correct, (0.9,), (0.0,), val_size=4)
    assert all(np.isfinite(r["test_coverage"]) and np.isfinite(r["test_risk"]) for r in d["rows"])
    nothing = np.tile([5.0, 0.0, 0.0, -50.0], (10, 1))        # never abstains: confidence ~ 1
    pred, conf = selective_outputs(nothing, k)
    assert np.all(pred == 0) and np.all(conf > 0.999)
    # Softmax Response for K outputs
    pred, conf = selective_outputs(np.array([[2.0, 0.0], [0.0, 0.0]]), 2)
    assert pred.tolist() == [0, 0] and conf[1] == pytest.approx(0.5)


def test_paper_protocol_splits_and_hits_coverage():
    rng = np.random.default_rng(0)
    conf, correct = rng.random(3000), rng.random(3000) < 0.9
    pp = paper_protocol(conf, correct, (1.0, 0.9, 0.8), val_size=2000, seed=0)
    assert pp["val_size"] == 2000
    assert pp["test_coverage"] == pytest.approx([1.0, 0.9, 0.8], abs=1e-3)
    assert pp["val_coverage"] == pytest.approx([1.0, 0.9, 0.8], abs=1e-3)
    assert pp["test_selective_error"][0] == pytest.approx(1 - correct[np.random.default_rng(0).permutation(3000)[2000:]].mean())


# ---- end to end --------------------------------------------------------------------------------

RUN = ["model.base_width=128", "optim.epochs=10", "noise.kind=none", "log.progress=false", "task=selective"]


@pytest.mark.slow
def test_sat_selective_cli_end_to_end(tmp_path):
    for loss in ("sat_selective", "gambler", "ce", "selectivenet"):
        res = sat("train", "--out", str(tmp_path / loss), *RUN, f"loss.name={loss}", "loss.start_epoch=3")
        assert res.returncode == 0, res.stderr
    rows = [json.loads(l) for l in (tmp_path / "sat_selective" / "metrics.jsonl").read_text().splitlines()]
    assert all("test_aurc" in r and 0 <= r["test_augrc"] <= 0.5 for r in rows)
    png = tmp_path / "rc.png"
    res = sat("selective", *(str(tmp_path / l) for l in ("sat_selective", "gambler", "ce")), "--val-size", "150",
              "--plot", str(png))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("E-AURC") == 3 and res.stdout.count("AUGRC") == 3 and "softmax response" in res.stdout and "abstain class" in res.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = json.loads((tmp_path / "sat_selective" / "selective.json").read_text())
    assert r["accuracy"] > 0.85 and 0 <= r["aurc"] < 0.05 and r["e_aurc"] >= 0
    # AUGRC lies between the oracle's floor err^2 / 2 and the reversed ordering's ceiling
    err = 1 - r["accuracy"]
    assert err ** 2 / 2 - 1e-9 <= r["augrc"] <= err ** 2 / 2 + err * (1 - err) + 1e-9
    assert len(r["paper_protocol"]["test_selective_error"]) == 7
    # risk falls as coverage falls, on average
    errs = r["paper_protocol"]["test_selective_error"]
    assert errs[-1] <= errs[0]
    for row in r["deployable"]["rows"]:
        if row["target"] == "coverage":
            assert abs(row["test_coverage"] - row["value"]) < 0.08     # 225 calibration, 225 measured
    # eval counts only the K class outputs
    ev = sat("eval", str(tmp_path / "gambler"), "--json")
    assert ev.returncode == 0 and json.loads(ev.stdout)["accuracy"]["test"] > 0.85
    res = sat("selective", str(tmp_path / "selectivenet"))    # default held-out part: a fifth of 450, not 2,000
    assert res.returncode == 0 and "selection head" in res.stdout, res.stderr
    r = json.loads((tmp_path / "selectivenet" / "selective.json").read_text())
    assert r["paper_protocol"]["val_size"] == 90
    # the selection head ranks better than chance: a random score's AURC is the error rate
    assert r["accuracy"] > 0.7 and 0 <= r["aurc"] < 0.8 * (1 - r["accuracy"])


@pytest.mark.slow
def test_selective_config_errors(tmp_path):
    with pytest.raises(UserError, match="needs task=selective"):
        load_config(None, ["loss.name=gambler"])
    with pytest.raises(UserError, match="task=selective trains"):
        load_config(None, ["task=selective", "loss.name=gce"])
    with pytest.raises(UserError, match="loss.reward"):
        load_config(None, ["task=selective", "loss.name=gambler", "loss.reward=0.5"])
    assert_one_line_error(sat("selective", str(tmp_path / "none")), "run folder not found")
    assert_one_line_error(sat("selective", str(tmp_path / "none"), "--target-coverage", "2"), "in [0, 1]")
