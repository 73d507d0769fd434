"""Every task with its bank in host memory (``loss.bank_device=cpu``) while the model trains on the
device: the mix of devices that only a GPU creates.  The first GPU run found a crash here (the label-
issue tracker beside a host bank added the GPU's records to a host buffer), which no CPU run could
show.  Each test runs on CPU everywhere (the bodies stay checked) and on CUDA where a GPU is present:
on a lent GPU machine, ``pytest tests/engine/test_devices.py``.  ``SATClassifier`` runs on the device
too (its bank stays there)."""
import numpy as np
import pytest
import torch
from helpers import ROBUST_OVERRIDES

from selfadaptive import LabelIssueTracker, SelfAdaptiveLoss, load_config, train
from selfadaptive.engine.runfolder import RunDir
from selfadaptive.issues.evaluate import issues_from_run

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
#: digits, a small MLP, 40% uniform noise, a few seconds a run
RUN = ["model.base_width=64", "optim.epochs=3", "log.progress=false", "optim.lr=0.05", "data.batch_size=64",
       "loss.bank_device=cpu"]


def _rows(run):
    return RunDir(run).read_metrics()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("start", ["0", "auto"])
def test_noisy_labels_with_a_host_bank(tmp_path, device, start):
    summary = train(load_config(None, RUN + [f"device={device}", f"loss.start_epoch={start}",
                                             "loss.bank_dtype=bfloat16", "data.val_fraction=0.1"]),
                    tmp_path / "r", quiet=True)
    rows = _rows(tmp_path / "r")
    assert len(rows) == 3 and all(np.isfinite(r["train_loss"]) for r in rows)
    assert summary["device"] == device and "selected_epoch" in summary
    bank = np.load(tmp_path / "r" / "soft_targets.npy")
    assert bank.shape == (summary["num_train"], 10) and np.allclose(bank.sum(1), 1, atol=2e-2)     # bf16 rows
    if start == "0":        # the bank moved from the first epoch on: the ranking and its detection AUROC
        assert (bank.max(1) < 1).any() and 0.5 < rows[-1]["detection_auroc"] <= 1
    found = issues_from_run(tmp_path / "r")         # what `sat issues` reads back from the folder
    assert len(found.issues) == summary["num_train"] and found.metrics["auroc"] > 0.5


@pytest.mark.parametrize("device", DEVICES)
def test_trades_sat_with_a_host_bank(tmp_path, device):
    over = ROBUST_OVERRIDES + ["model.base_width=64", "optim.epochs=2", "log.progress=false", "data.batch_size=128",
                               "adversarial.steps=2", "adversarial.eval_steps=2", "adversarial.test_steps=2",
                               "adversarial.eval_size=64", "loss.name=sat", "loss.start_epoch=1",
                               "loss.bank_device=cpu", f"device={device}"]
    summary = train(load_config(None, over), tmp_path / "r", quiet=True)
    assert summary["start_epoch"] == 1 and 0 <= summary["test_robust_acc_last"] <= summary["test_clean_acc_last"]
    assert (np.load(tmp_path / "r" / "soft_targets.npy").max(1) < 1).any()


@pytest.mark.parametrize("device", DEVICES)
def test_the_abstain_class_with_a_host_bank(tmp_path, device):
    over = RUN + ["task=selective", "noise.kind=none", "loss.name=sat_selective", "loss.start_epoch=1",
                  f"device={device}"]
    train(load_config(None, over), tmp_path / "r", quiet=True)
    rows = _rows(tmp_path / "r")
    bank = np.load(tmp_path / "r" / "soft_targets.npy")       # over the K classes; the abstain output has none
    assert 0 <= rows[-1]["test_aurc"] <= 1 and bank.shape == (1347, 10) and (bank.max(1) < 1).any()


@pytest.mark.parametrize("device", DEVICES)
def test_attach_in_a_plain_loop_with_a_host_bank(device):
    g = torch.Generator().manual_seed(0)
    n, k = 256, 4
    x, labels = torch.randn(n, 8, generator=g), torch.randint(0, k, (n,), generator=g)
    model = torch.nn.Linear(8, k).to(device)
    criterion = SelfAdaptiveLoss(labels, num_classes=k, start_epoch=1).to(device)
    criterion.keep_bank_on_host()
    tracker = LabelIssueTracker.attach(criterion, labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        for idx in torch.arange(n).split(64):
            loss = criterion(model(x[idx].to(device)), labels[idx].to(device), idx.to(device), epoch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert criterion.bank().device.type == "cpu" and tracker.labels.device.type == "cpu"
    issues = tracker.label_issues()
    assert len(issues) == n and (criterion.bank().max(1).values < 1).any()


@pytest.mark.parametrize("device", DEVICES)
def test_the_estimator_on_the_device(device):
    from sklearn.datasets import load_wine

    from selfadaptive.estimator import SATClassifier
    from selfadaptive.issues import detection_metrics
    from selfadaptive.noise.labels import corrupt_labels
    X, y = load_wine(return_X_y=True)
    noise = corrupt_labels(y, 3, 0.3, "flip", seed=0)
    clf = SATClassifier(max_epochs=30, random_state=0, device=device).fit(X, noise.noisy_labels)
    assert clf.soft_targets_.shape == (len(y), 3) and isinstance(clf.predict_proba(X[:4]), np.ndarray)
    assert detection_metrics(clf.label_issues_.in_index_order("score"), noise.noisy_mask)["auroc"] > 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_sat_ssl_with_a_host_bank(tmp_path, device):
    from selfadaptive.ssl.pretrain import pretrain
    over = ["task=ssl", "noise.kind=none", "model.name=cnn", "model.base_width=4", "ssl.dim=16", "ssl.hidden=32",
            "ssl.knn_k=20", "ssl.monitor_size=128", "data.batch_size=64", "optim.epochs=2", "optim.lr=0.05",
            "loss.name=sat_ssl", "loss.start_epoch=1", "log.progress=false", "data.subset=400", "ssl.linear_probe=false",
            "loss.bank_device=cpu", f"device={device}"]
    pretrain(load_config(None, over), tmp_path / "r", quiet=True)
    bank = np.load(tmp_path / "r" / "soft_targets.npy")
    assert bank.shape == (400, 16) and np.allclose(np.linalg.norm(bank, axis=1), 1, atol=1e-4)
    assert np.isfinite(_rows(tmp_path / "r")[-1]["train_loss"])
