"""Self-supervised pretraining end to end on digits: the run folder, exact resume, sat probe, errors."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import StopAfter

import selfadaptive.ssl.pretrain as pretrain_mod
from selfadaptive import load_config
from selfadaptive.errors import Interrupted, UserError
from selfadaptive.ssl.networks import SiameseNetwork, target_momentum_at
from selfadaptive.ssl.pretrain import pretrain, probe_run

TINY = ["task=ssl", "noise.kind=none", "model.name=cnn", "model.base_width=4", "ssl.dim=16", "ssl.hidden=32",
        "ssl.knn_every=1", "ssl.knn_k=20", "ssl.monitor_size=128", "data.batch_size=64", "optim.epochs=3",
        "optim.lr=0.05", "loss.start_epoch=1", "log.progress=false", "data.subset=400"]


def _rows(run):
    return [{k: v for k, v in json.loads(l).items() if k != "time_s"} for l in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["sat_ssl", "byol", "simsiam"])
def test_pretrain_run_folder(tmp_path, method):
    summary = pretrain(load_config(None, TINY + [f"loss.name={method}"]), tmp_path / "r", quiet=True)
    rows = _rows(tmp_path / "r")
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for key in ("train_loss", "embedding_std", "embedding_std_ratio", "effective_rank", "knn_acc"):
        assert key in rows[-1]
    if method == "simsiam":       # -cos averaged over the two views, in [-1, 1]; no momentum copy is kept
        assert -1 <= rows[-1]["train_loss"] < rows[0]["train_loss"] <= 1
        state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
        assert not any(k.startswith("target_") for k in state["model"])
    else:
        assert 0 <= rows[-1]["train_loss"] <= 8        # two terms of 2 - 2cos, each in [0, 4]
    assert summary["knn_acc"] > 0.3 and summary["linear_acc"] > 0.3       # 10 classes: chance is 0.1
    if method == "sat_ssl":
        bank = np.load(tmp_path / "r" / "soft_targets.npy")
        assert bank.shape == (400, 16) and np.allclose(np.linalg.norm(bank, axis=1), 1, atol=1e-5)
        assert summary["bank_bytes"] == 400 * 16 * 4
    else:
        assert not (tmp_path / "r" / "soft_targets.npy").exists()


@pytest.mark.parametrize("start", ["1", "auto"])
def test_pretrain_resumes_mid_epoch_exactly(tmp_path, monkeypatch, start):
    # auto over 4 cosine epochs: the rate halves at epoch 2, so SAT starts at 3; the cut falls inside epoch 2,
    # between the learning rates it has seen and the one that fires the rule
    cfg = load_config(None, TINY + ["loss.name=sat_ssl", f"loss.start_epoch={start}"] +
                      (["optim.epochs=4", "optim.schedule=cosine"] if start == "auto" else []))
    summary = pretrain(cfg, tmp_path / "full", quiet=True)
    StopAfter.n = 9 if start == "1" else 16        # 7 steps an epoch: inside epoch 1 (after E_s) or 2
    monkeypatch.setattr(pretrain_mod, "StopSignals", StopAfter)
    with pytest.raises(Interrupted) as e:
        pretrain(cfg, tmp_path / "cut", quiet=True)
    assert "sat pretrain --resume" in str(e.value)
    monkeypatch.undo()
    pretrain(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert _rows(tmp_path / "full") == _rows(tmp_path / "cut")
    a, b = (torch.load(tmp_path / r / "checkpoint.pt", weights_only=True) for r in ("full", "cut"))
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert torch.equal(a["loss"]["soft_targets"], b["loss"]["soft_targets"])
    rows = _rows(tmp_path / "full")
    first = 1 if start == "1" else 3
    assert summary["start_epoch_chosen"] == first
    assert [r["sat_started"] for r in rows] == [e >= first for e in range(len(rows))]
    assert "bank_agreement" not in rows[0] and all(0 < r["bank_agreement"] <= 1 for r in rows[1:])


@pytest.mark.slow
def test_sat_probe_cli_reproduces_the_final_knn(tmp_path):
    summary = pretrain(load_config(None, TINY + ["loss.name=byol", "optim.epochs=1"]), tmp_path / "r", quiet=True)
    result = probe_run(tmp_path / "r", linear=False)
    assert result["knn_acc"] == summary["knn_acc"] and "linear_acc" not in result
    proc = subprocess.run([sys.executable, "-m", "selfadaptive", "probe", str(tmp_path / "r"), "--knn-k", "5"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kNN (k=5)" in proc.stdout and json.loads((tmp_path / "r" / "probe.json").read_text())["knn_k"] == 5


def test_target_network_follows_the_schedule():
    assert target_momentum_at(0, 100, 0.99) == pytest.approx(0.99)
    assert target_momentum_at(100, 100, 0.99) == pytest.approx(1.0)
    enc = torch.nn.Linear(4, 4)
    net = SiameseNetwork(enc, 4, dim=2, hidden=8, target_momentum=0.5)
    before = net.target_encoder.weight.clone()
    with torch.no_grad():
        enc.weight.add_(1.0)
    net.update_target(0.5)
    assert torch.allclose(net.target_encoder.weight, 0.5 * before + 0.5 * enc.weight)
    assert not net.target_encoder.weight.requires_grad


def test_auto_start_that_never_fires_says_the_run_is_byol(tmp_path, capsys):
    over = [o for o in TINY if not o.startswith("loss.start_epoch")]        # auto is sat_ssl's default
    cfg = load_config(None, over + ["loss.name=sat_ssl", "optim.epochs=2", "optim.schedule=constant"])
    summary = pretrain(cfg, tmp_path / "r")
    assert summary["start_epoch"] == "auto" and summary["start_epoch_chosen"] is None
    assert not any(r["sat_started"] for r in _rows(tmp_path / "r"))
    assert "SAT never started (the learning rate never fell to half its peak), so the run is BYOL" in \
        capsys.readouterr().out


@pytest.mark.parametrize("over, needle", [
    (["loss.name=ce"], "task=ssl trains loss.name=byol, sat_ssl or simsiam"),
    (["loss.name=simsiam", "ssl.target_momentum=0.99"], "simsiam has no momentum network"),
    (["loss.name=sat_ssl", "noise.kind=flip"], "set noise.kind=none"),
    (["loss.name=byol", "ssl.target_momentum=1.0"], "ssl.target_momentum must be in [0, 1)"),
    (["loss.name=sat_ssl", "loss.start_epoch=auto", "loss.auto_rule=changes_slowdown"],
     "sat_ssl's automatic start takes lr_drop"),
])
def test_ssl_config_errors(over, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        load_config(None, TINY + over)


@pytest.mark.slow
def test_ssl_commands_refuse_the_wrong_task(tmp_path):
    with pytest.raises(UserError, match="loss.name=sat_ssl is self-supervised"):
        load_config(None, ["loss.name=sat_ssl"])
    proc = subprocess.run([sys.executable, "-m", "selfadaptive", "train", "--out", str(tmp_path / "x"),
                           *TINY, "loss.name=byol"], capture_output=True, text=True)
    assert proc.returncode == 2 and "sat pretrain" in proc.stderr and proc.stderr.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "selfadaptive", "pretrain", "--config", "digits-flip40-sat",
                           "--out", str(tmp_path / "y")], capture_output=True, text=True)
    assert proc.returncode == 2 and "task=ssl" in proc.stderr


@pytest.mark.slow
def test_compiled_pretraining_matches_eager_and_keeps_eager_checkpoints(tmp_path):
    over = TINY + ["loss.name=sat_ssl", "optim.epochs=1", "loss.start_epoch=0", "model.name=mlp",
                   "model.base_width=16", "ssl.linear_probe=false"]
    pretrain(load_config(None, over), tmp_path / "eager", quiet=True)
    pretrain(load_config(None, over + ["compile=true"]), tmp_path / "compiled", quiet=True)
    a, b = (torch.load(tmp_path / r / "checkpoint.pt", weights_only=True) for r in ("eager", "compiled"))
    assert a["model"].keys() == b["model"].keys()          # no "_orig_mod." prefixes
    for k in a["model"]:
        assert torch.allclose(a["model"][k].float(), b["model"][k].float(), atol=1e-4), k
    assert torch.allclose(a["loss"]["soft_targets"], b["loss"]["soft_targets"], atol=1e-4)


def test_bf16_autocast_and_a_host_bank(tmp_path):
    over = TINY + ["loss.name=sat_ssl", "optim.epochs=2", "ssl.linear_probe=false"]
    pretrain(load_config(None, over), tmp_path / "fp32", quiet=True)
    # a host-memory bank is the same bank (on CPU it is where the bank already was)
    pretrain(load_config(None, over + ["loss.bank_device=cpu"]), tmp_path / "host", quiet=True)
    assert _rows(tmp_path / "fp32") == _rows(tmp_path / "host")
    # bf16 autocast (the CUDA default) changes the numbers but still learns: finite, falling loss
    pretrain(load_config(None, over + ["precision=bf16"]), tmp_path / "bf16", quiet=True)
    fp32, bf16 = _rows(tmp_path / "fp32"), _rows(tmp_path / "bf16")
    assert fp32 != bf16
    assert all(np.isfinite(r["train_loss"]) for r in bf16) and bf16[1]["train_loss"] < bf16[0]["train_loss"]
    bank = np.load(tmp_path / "bf16" / "soft_targets.npy")
    assert bank.dtype == np.float32 and np.allclose(np.linalg.norm(bank, axis=1), 1, atol=1e-5)
