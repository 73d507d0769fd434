"""task=robust end to end: TRADES / TRADES+SAT / PGD training, best-checkpoint choice, `sat robust`,
exact resume and bad input."""
import json
import sys

import pytest
import torch
from helpers import StopAfter as _StopAfter
from test_cli import assert_one_line_error, sat

import selfadaptive.training.loop as train_mod
from selfadaptive.config import load_config
from selfadaptive.errors import Interrupted, UserError
from selfadaptive.training.loop import train

ROBUST = ["task=robust", "data.val_fraction=0.2", "noise.kind=none", "model.name=cnn", "model.base_width=8",
          "optim.lr=0.05", "optim.epochs=4", "data.batch_size=64", "log.progress=false",
          "adversarial.eps=0.1", "adversarial.step_size=0.03", "adversarial.steps=3", "adversarial.eval_steps=5",
          "adversarial.eval_size=150", "adversarial.test_steps=10"]


def _rows(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_trades_sat_cli_end_to_end_and_sat_robust_reproduces_it(tmp_path):
    run = tmp_path / "ts"
    res = sat("train", "--out", str(run), *ROBUST, "loss.name=sat", "loss.start_epoch=2")
    assert res.returncode == 0, res.stderr
    assert "PGD10" in res.stdout and "best model (epoch" in res.stdout
    rows = _rows(run)
    assert len(rows) == 4 and all(0 <= r["val_robust_acc"] <= r["val_acc"] + 0.05 for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    best_epoch = max(rows, key=lambda r: r["val_robust_acc"])["epoch"]
    assert summary["best_robust_epoch"] == best_epoch
    for which in ("last", "best"):
        assert summary[f"test_robust_acc_{which}"] <= summary[f"test_fgsm_acc_{which}"] <= summary[f"test_clean_acc_{which}"]
    assert summary["test_clean_acc_last"] > 0.8 and summary["test_robust_acc_last"] > 0.3
    assert (run / "soft_targets.npy").is_file()             # the SAT bank of the natural term
    assert summary["variant"] == "ce"                       # TRADES+SAT keeps the paper's form by default
    first = json.loads((run / "robust.json").read_text())
    # `sat robust` rebuilds the models from the folder and repeats the seeded attacks exactly
    res = sat("robust", str(run))
    assert res.returncode == 0, res.stderr
    again = json.loads((run / "robust.json").read_text())
    for which in ("last", "best"):
        for key in ("clean", "fgsm", "pgd10"):
            assert again[which][key] == first[which][key], (which, key)
    assert again["best"]["epoch"] == best_epoch and again["last"]["epoch"] == 3
    # another question gets its own file and leaves robust.json alone
    res = sat("robust", str(run), "--eps", "0.2", "--steps", "5", "--which", "last", "--limit", "100")
    assert res.returncode == 0, res.stderr
    other = json.loads((run / "robust-test-eps0.2-pgd5-step0.1-n100.json").read_text())
    assert other["size"] == 100 and "best" not in other and other["last"]["pgd5"] < first["last"]["pgd10"]
    assert json.loads((run / "robust.json").read_text()) == again


@pytest.mark.slow
def test_pgd_training_and_plain_trades_run(tmp_path):
    for name, extra in (("pgd", ["adversarial.method=pgd", "loss.name=ce"]), ("trades", ["loss.name=ce"])):
        cfg = load_config(None, ROBUST + extra + ["optim.epochs=2"])
        s = train(cfg, tmp_path / name, quiet=True)
        assert s["test_clean_acc_last"] > 0.5 and "test_robust_acc_best" in s
        assert (tmp_path / name / "best_model.pt").is_file()


@pytest.mark.slow
def test_trades_sat_resume_is_bit_identical(tmp_path, monkeypatch):
    cfg = load_config(None, ROBUST + ["loss.name=sat", "loss.start_epoch=1", "optim.epochs=3", "model.dropout=0.2"])
    full = train(cfg, tmp_path / "full", quiet=True)
    _StopAfter.n = 17 + 3           # 1078 samples / 64 = 17 steps an epoch: stop inside epoch 1
    monkeypatch.setattr(train_mod, "StopSignals", _StopAfter)
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "cut", quiet=True)
    monkeypatch.undo()
    cut = train(cfg, tmp_path / "cut", resume=True, quiet=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for part in ("model", "loss"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert "natural.soft_targets" in a["loss"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]
    assert strip(_rows(tmp_path / "full")) == strip(_rows(tmp_path / "cut"))
    for key in ("test_robust_acc_last", "test_robust_acc_best", "best_robust_epoch"):
        assert full[key] == cut[key]
    ba = torch.load(tmp_path / "full" / "best_model.pt", weights_only=True)
    bb = torch.load(tmp_path / "cut" / "best_model.pt", weights_only=True)
    assert ba["epoch"] == bb["epoch"] and all(torch.equal(ba["model"][k], bb["model"][k]) for k in ba["model"])


@pytest.mark.slow
def test_robust_config_and_cli_errors(tmp_path, monkeypatch):
    base = [o for o in ROBUST if not o.startswith("data.val_fraction")]
    with pytest.raises(UserError, match="held-out split"):
        load_config(None, base)
    for bad, needle in (("adversarial.eps=1.5", "adversarial.eps"), ("adversarial.steps=0", "adversarial.steps"),
                        ("adversarial.step_size=-1", "adversarial.step_size"), ("adversarial.method=fgsm", "one of"),
                        ("adversarial.eval_size=-1", "eval_size"), ("adversarial.beta=-1", "beta")):
        with pytest.raises(UserError, match=needle):
            load_config(None, ROBUST + [bad])
    assert_one_line_error(sat("train", "--out", str(tmp_path / "x"), *base), "held-out split")
    assert not (tmp_path / "x").exists()
    assert_one_line_error(sat("robust", str(tmp_path / "nothing")), "run folder not found")
    run = tmp_path / "plain"
    assert sat("train", "--out", str(run), "model.base_width=32", "optim.epochs=1", "log.progress=false").returncode == 0
    assert_one_line_error(sat("robust", str(run), "--which", "best"), "no best_model.pt")
    assert_one_line_error(sat("robust", str(run), "--eps", "2"), "--eps must be in [0, 1]")
    # a plainly trained tabular run can still be attacked (inputs scaled to [0, 1] by the digits loader)
    res = sat("robust", str(run), "--eps", "0.05", "--which", "last")
    assert res.returncode == 0, res.stderr
    from selfadaptive.robust import evaluate as run_robust
    monkeypatch.setitem(sys.modules, "torchattacks", None)        # as if the extra were not installed
    with pytest.raises(UserError, match=r"selfadaptive\[attacks\]"):
        run_robust.evaluate_robust(run, which="last", autoattack=True, eps=0.05, limit=10)


@pytest.mark.slow
def test_autoattack_through_torchattacks(tmp_path):
    """`sat robust --autoattack`: AutoAttack (APGD-CE/T, FAB-T, Square) is at least as strong as PGD-10."""
    from test_attacks import _torchattacks
    _torchattacks()
    run = tmp_path / "r"
    train(load_config(None, ROBUST + ["loss.name=ce", "optim.epochs=2"]), run, quiet=True)
    res = sat("robust", str(run), "--autoattack", "--limit", "30", "--which", "last")
    assert res.returncode == 0, res.stderr
    r = json.loads((run / "robust-test-eps0.1-pgd10-step0.025-n30.json").read_text())["last"]
    assert r["autoattack"] <= r["pgd10"] + 1 / 30 and r["autoattack"] < r["clean"]


def test_the_plateau_rule_waits_for_held_out_robust_accuracy(tmp_path):
    """TRADES+SAT with ``auto_rule=noisy_val_plateau``: the rule reads the epoch's PGD accuracy on the
    held-out split (robust overfitting is that figure falling), not the clean validation accuracy."""
    from selfadaptive.engine.checkpoint import load_checkpoint
    from selfadaptive.losses.start_rules import plateau

    cfg = load_config(None, ROBUST + ["loss.name=sat", "loss.start_epoch=auto", "loss.auto_rule=noisy_val_plateau",
                                      "loss.auto_window=1", "loss.auto_min_fit=0"])
    summary = train(cfg, tmp_path / "r", quiet=True)
    rows = _rows(tmp_path / "r")
    robust, clean = [r["val_robust_acc"] for r in rows], [r["val_acc"] for r in rows]
    assert robust != clean                      # PGD costs accuracy: the two curves differ
    fed = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["loss"]["natural.auto.val_acc"][:len(rows)]
    assert fed.tolist() == robust
    # the rule decides when an epoch begins, from the epochs closed before it (4 epochs: 1, 2 or 3)
    fired = next((e + 1 for e in range(len(rows) - 1) if plateau(robust[:e + 1], 1) is not None), None)
    assert summary["start_epoch_chosen"] == fired


@pytest.mark.slow
def test_trades_sat_whose_fit_gate_never_opens_is_trades(tmp_path):
    """Under task=robust the automatic start waits for the learning rate to halve (``lr_drop``) and
    for the training passes to fit the labels (0.9 by default).  A gate no pass reaches keeps SAT off:
    TRADES+SAT is then TRADES, epoch for epoch, and the summary and headline say why.  With the
    default gate, which this model passes, SAT starts the epoch after the rate has halved."""
    from selfadaptive.training.records import headline

    five = ROBUST + ["optim.epochs=5"]          # cosine: the rate halves in epoch 3
    sat_run = train(load_config(None, five + ["loss.name=sat", "loss.start_epoch=auto", "loss.auto_min_fit=1.0"]),
                    tmp_path / "sat", quiet=True)
    trades = train(load_config(None, five + ["loss.name=ce"]), tmp_path / "trades", quiet=True)
    keys = ("train_loss", "train_acc", "test_acc", "val_robust_acc")
    assert [[r[k] for k in keys] for r in _rows(tmp_path / "sat")] == [[r[k] for k in keys] for r in _rows(tmp_path / "trades")]
    assert sat_run["test_robust_acc_last"] == trades["test_robust_acc_last"]
    assert sat_run["start_epoch_chosen"] is None and sat_run["auto_min_fit"] == 1.0
    lrs = [r["lr"] for r in _rows(tmp_path / "sat")]
    drop = next(e for e, lr in enumerate(lrs) if lr <= lrs[0] / 2)
    assert sat_run["start_gated_epoch"] == drop + 1 and sat_run["start_gate_fit_last"] < 1.0
    assert "SAT never started" in headline(sat_run) and "had to predict 1.0 of the given labels" in headline(sat_run)
    fitted = train(load_config(None, five + ["loss.name=sat", "loss.start_epoch=auto"]), tmp_path / "fit", quiet=True)
    rows = _rows(tmp_path / "fit")
    if rows[drop]["train_acc"] >= 0.9:          # the gate open when the rule fires (about 0.95 here)
        assert fitted["start_epoch_chosen"] == drop + 1 and "start_gated_epoch" not in fitted
    else:
        assert fitted["start_gated_epoch"] == drop + 1
