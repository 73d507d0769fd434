"""LARS against its update rule written out, and as optim.name=lars in a run."""
import pytest
import torch

from selfadaptive import load_config
from selfadaptive.engine.optimizers import LARS
from selfadaptive.ssl.pretrain import pretrain


def test_lars_follows_the_update_rule():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True)
    lr, mom, wd, eta = 0.5, 0.9, 1e-2, 0.02
    opt = LARS([w, b], lr=lr, momentum=mom, weight_decay=wd, eta=eta)
    ref_w, ref_b = w.detach().clone(), b.detach().clone()
    vw, vb = torch.zeros_like(ref_w), torch.zeros_like(ref_b)
    for _ in range(3):
        x = torch.randn(5, 3, generator=g)
        opt.zero_grad()
        ((x @ w.T + b) ** 2).sum().backward()
        gw, gb = w.grad.clone(), b.grad.clone()
        opt.step()
        d = gw + wd * ref_w
        ratio = eta * ref_w.norm() / d.norm()
        vw = mom * vw + lr * ratio * d
        vb = mom * vb + lr * gb          # 1-d tensors: no decay, no adaptation
        ref_w, ref_b = ref_w - vw, ref_b - vb
        torch.testing.assert_close(w.detach(), ref_w)
        torch.testing.assert_close(b.detach(), ref_b)
    with pytest.raises(ValueError):
        LARS([w], lr=0.0)


def test_lars_pretraining_runs(tmp_path):
    cfg = load_config(None, ["task=ssl", "loss.name=byol", "noise.kind=none", "model.name=cnn", "model.base_width=4",
                             "ssl.dim=8", "ssl.hidden=16", "ssl.knn_k=10", "ssl.monitor_size=64", "data.subset=200",
                             "data.batch_size=100", "optim.epochs=1", "optim.name=lars", "optim.lr=0.5",
                             "optim.eta=0.02", "log.progress=false"])
    summary = pretrain(cfg, tmp_path / "r", quiet=True)
    assert summary["train_loss_last"] == summary["train_loss_last"] and summary["knn_acc"] > 0.1
