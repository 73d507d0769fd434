"""Data-parallel training on CPU with gloo: two processes give the one-process answer."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from selfadaptive.engine.distributed import Distributed
from selfadaptive.losses import local_mean, local_rows

BASE = ["model.base_width=64", "loss.start_epoch=1", "log.progress=false", "optim.lr=0.05", "data.batch_size=32"]
# plain SAT with a fixed E_s: the torchrun test below runs it (and sat_auto's bank moves too)
SAT_FIXED = BASE + ["optim.epochs=3"]
CASES = {
    "elr": BASE + ["optim.epochs=2", "loss.name=elr"],
    # start_epoch=auto (the default rule, changes_slowdown) fires at epoch 4; the memorisation gate (flip noise:
    # spread disagreements) holds it until the PC minimum or the noisy validation plateau (epoch 7 here): the
    # switch, the concentration and the validation figures fed in are checked to agree
    "sat_auto": [o for o in BASE if not o.startswith("loss.start_epoch")]
    + ["optim.epochs=10", "optim.schedule=constant", "loss.start_epoch=auto", "data.val_fraction=0.2"],
    "pgd_sat": BASE + ["optim.epochs=2", "task=robust", "data.val_fraction=0.2", "noise.kind=none",
                       "adversarial.method=pgd", "adversarial.eps=0.1", "adversarial.step_size=0.05",
                       "adversarial.steps=2", "adversarial.eval_steps=2", "adversarial.eval_size=100",
                       "adversarial.test_steps=3"],
}
# TRADES's first attack step is the sign of a near-zero KL gradient, so the 1e-8 rounding difference
# between one process's gradient sum and two processes' averaged sums flips a few pixels' steps and
# the runs then drift apart like two seeds: TRADES under DDP is checked to run, not to match bits.
TRADES = [o for o in CASES["pgd_sat"] if o != "adversarial.method=pgd"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _sat(*args, wait=True):
    cmd = [sys.executable, "-m", "selfadaptive", *args]
    if not wait:
        return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True)


def _state(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)


def _assert_same_run(a, b, tol=1e-5):
    sa, sb = _state(a), _state(b)
    for part in ("model", "loss"):
        assert sa[part].keys() == sb[part].keys()
        for k in sa[part]:
            assert torch.allclose(sa[part][k].float(), sb[part][k].float(), atol=tol, rtol=0, equal_nan=True), (part, k)
    assert torch.equal(sa["train_pred"], sb["train_pred"])
    ra = [json.loads(l) for l in (a / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(l) for l in (b / "metrics.jsonl").read_text().splitlines()]
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for key in x:
            if key != "time_s":
                assert x[key] == pytest.approx(y[key], abs=1e-5), key


def test_shards_cover_each_global_batch_once():
    batch = torch.arange(7) * 3
    parts = [Distributed(rank=r, world=3).shard(batch) for r in range(3)]
    assert sorted(torch.cat(parts).tolist()) == batch.tolist()
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert torch.equal(Distributed().shard(batch), batch)
    idx, rows, own = local_rows(batch, torch.ones(7, 2))
    assert idx is batch and own == slice(None)
    v, w = torch.tensor([1.0, 3.0]), torch.tensor([1.0, 3.0])
    assert local_mean(v).item() == 2.0 and local_mean(v, w).item() == 2.5


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, case):
    """Same global batch: bank, parameters, predictions and every logged number agree to 1e-5."""
    over = CASES[case]
    # both at once (three one-thread processes): most of each run is start-up
    procs = [_sat("train", "--out", str(tmp_path / "one"), *over, wait=False),
             _sat("train", "--nproc", "2", "--out", str(tmp_path / "two"), *over, wait=False)]
    (one_out, one_err), (two_out, two_err) = (p.communicate(timeout=600) for p in procs)
    assert procs[0].returncode == 0, one_err
    assert procs[1].returncode == 0, two_err
    assert two_out.count("run folder:") == 1         # rank 0 alone reports and writes
    _assert_same_run(tmp_path / "one", tmp_path / "two")
    if case == "sat_auto":      # the switch happened, at the same epoch in both
        a, b = (json.loads((tmp_path / r / "summary.json").read_text()) for r in ("one", "two"))
        assert a["start_epoch_chosen"] == b["start_epoch_chosen"] is not None
        assert a["start_gated_epoch"] == b["start_gated_epoch"] and a["start_concentration"] == b["start_concentration"]
    if case == "pgd_sat":
        a, b = (json.loads((tmp_path / r / "robust.json").read_text()) for r in ("one", "two"))
        assert a["last"] == pytest.approx(b["last"], abs=1e-9) and a["best"]["epoch"] == b["best"]["epoch"]


@pytest.mark.slow
def test_trades_runs_data_parallel(tmp_path):
    res = _sat("train", "--nproc", "2", "--out", str(tmp_path / "t"), *TRADES)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert s["test_clean_acc_last"] > 0.7 and 0 < s["test_robust_acc_last"] <= s["test_clean_acc_last"]
    assert "natural.soft_targets" in _state(tmp_path / "t")["loss"]


@pytest.mark.slow
def test_torchrun_entry_point(tmp_path):
    over = SAT_FIXED
    tr = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "selfadaptive", "train", "--out", str(tmp_path / "tr"), *over],
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    one = _sat("train", "--out", str(tmp_path / "one"), *over, wait=False)      # side by side: mostly start-up
    (_, tr_err), (_, one_err) = tr.communicate(timeout=600), one.communicate(timeout=600)
    assert tr.returncode == 0, tr_err[-2000:]
    assert one.returncode == 0, one_err[-2000:]
    _assert_same_run(tmp_path / "one", tmp_path / "tr")


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    over = BASE + ["optim.epochs=12", "log.checkpoint_every=1000"]   # mid-epoch checkpoints only on the signal
    cut = tmp_path / "cut"
    proc = _sat("train", "--nproc", "2", "--out", str(cut), *over, wait=False)
    deadline = time.time() + 120
    while time.time() < deadline and not (cut / "metrics.jsonl").is_file():
        time.sleep(0.01)
    assert (cut / "metrics.jsonl").is_file(), proc.communicate()[1]
    proc.send_signal(signal.SIGTERM)            # to the launcher, which passes it on
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    state = _state(cut)
    assert 0 < state["epoch"] < 12 and len(state["rng_ranks"]) == 2
    res = _sat("train", "--nproc", "2", "--resume", str(cut))
    assert res.returncode == 0, res.stderr
    full = _sat("train", "--nproc", "2", "--out", str(tmp_path / "full"), *over)
    assert full.returncode == 0, full.stderr
    _assert_same_run(tmp_path / "full", cut, tol=0.0)     # a resumed data-parallel run is bit-identical


SSL = ["task=ssl", "loss.name=sat_ssl", "noise.kind=none", "model.name=mlp", "model.base_width=32",
       "ssl.head_norm=false", "ssl.dim=16", "ssl.hidden=32", "ssl.knn_k=20", "ssl.monitor_size=64", "ssl.knn_every=1",
       "data.subset=300", "data.batch_size=64", "optim.epochs=2", "optim.lr=0.05", "loss.start_epoch=1",
       "log.progress=false"]


@pytest.mark.slow
def test_two_process_pretraining_equals_one_with_one_bank(tmp_path):
    # a BN-free encoder and heads: the views, the bank's updates and the loss are global
    one = _sat("pretrain", "--config", "digits-flip40-sat", "--out", str(tmp_path / "one"), *SSL)
    assert one.returncode == 0, one.stderr
    two = _sat("pretrain", "--nproc", "2", "--config", "digits-flip40-sat", "--out", str(tmp_path / "two"), *SSL)
    assert two.returncode == 0, two.stderr
    sa, sb = _state(tmp_path / "one"), _state(tmp_path / "two")
    for part in ("model", "loss"):
        for k in sa[part]:
            assert torch.allclose(sa[part][k], sb[part][k], atol=1e-5, rtol=0), (part, k)
    bank = sb["loss"]["soft_targets"]
    assert torch.allclose(bank.norm(dim=1), torch.ones(300), atol=1e-5)      # every row written, by both ranks
    ra, rb = ([json.loads(l) for l in (tmp_path / r / "metrics.jsonl").read_text().splitlines()] for r in ("one", "two"))
    assert [r["knn_acc"] for r in ra] == pytest.approx([r["knn_acc"] for r in rb], abs=1e-9)
    assert [r["train_loss"] for r in ra] == pytest.approx([r["train_loss"] for r in rb], abs=1e-5)
    agreement = [[r.get("bank_agreement", 0.0) for r in rows] for rows in (ra, rb)]     # summed over the global batch
    assert agreement[0][1] > 0 and agreement[0] == pytest.approx(agreement[1], abs=1e-5)
