"""A user's own data: no injected noise unless asked, each model's own width, SAT's start chosen
during training, where each suspicious sample lives, and warnings instead of silent dead ends."""
import csv
import json

import numpy as np
import pytest
from helpers import write_image_folder
from test_cli import sat

from selfadaptive import load_config
from selfadaptive.config import DataConfig
from selfadaptive.data import build_data


def _table(path, n=60, bom=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["f0", "f1", "f2", "label"])
        for row, label in zip(x, y):
            w.writerow([f"{v:.4f}" for v in row] + [["no", "yes"][label]])
    return path


def test_own_data_gets_no_noise_and_the_models_own_width():
    cfg = load_config(None, ["data.name=csv", "data.root=t.csv"])
    assert cfg.noise.kind == "none" and cfg.model.base_width == 0 and cfg.loss.name == "sat"
    assert load_config(None).noise.kind == "flip"          # the built-in digits demo keeps its noise
    assert load_config(None, ["data.name=csv", "data.root=t.csv", "noise.kind=uniform"]).noise.kind == "uniform"


def test_excel_csv_with_a_byte_order_mark(tmp_path):
    data = build_data(DataConfig(name="csv", root=str(_table(tmp_path / "excel.csv", bom=True))))
    assert data.class_names == ["no", "yes"]
    assert data.info["source_paths"][:2] == ["excel.csv:2", "excel.csv:3"]


@pytest.mark.slow
def test_sat_train_on_a_clean_table_reports_no_noise_and_paths_reach_label_issues(tmp_path):
    table = _table(tmp_path / "mine.csv")
    res = sat("train", "--out", str(tmp_path / "r"), "data.name=csv", f"data.root={table}", "optim.epochs=3")
    assert res.returncode == 0, res.stderr
    assert "label noise: none" in res.stdout and "start_epoch=auto" in res.stdout
    assert "kind: none" in (tmp_path / "r" / "config.yaml").read_text()
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["start_epoch"] == "auto"
    # a 3-epoch run never starts SAT: sat issues says so instead of ranking zeros silently
    issues = sat("issues", str(tmp_path / "r"))
    assert issues.returncode == 0 and "never moved" in issues.stderr
    rows = list(csv.DictReader(open(tmp_path / "r" / "label_issues.csv")))
    assert {r["path"] for r in rows} <= {f"mine.csv:{line}" for line in range(2, 62)}
    assert all(r["path"] == f"mine.csv:{int(r['source_index']) + 2}" for r in rows)


@pytest.mark.slow
def test_sat_sweep_on_a_table_starts_from_the_defaults_not_the_noisy_demo(tmp_path):
    # it once started every run from the digits demo preset, so 40% flip noise went into the user's labels
    table = _table(tmp_path / "mine.csv")
    res = sat("sweep", "--out", str(tmp_path / "sw"), "--jobs", "2", "data.name=csv", f"data.root={table}",
              "data.val_fraction=0.2", "optim.epochs=1", "loss.name=ce,sat")
    assert res.returncode == 0, res.stderr
    for loss in ("ce", "sat"):
        summary = json.loads((tmp_path / "sw" / f"loss.name={loss}" / "summary.json").read_text())
        assert summary["data"] == "csv" and summary["noise_kind"] == "none" and summary["num_noisy"] == 0
        assert summary["selected_by"] == "val_acc"          # the user's own validation labels
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["config"] is None
    assert "selection_val_acc_last" in res.stdout


@pytest.mark.slow
def test_image_folder_paths_progress_lines_and_the_start_warning(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=10, size=12, split_test=False)
    res = sat("train", "--out", str(tmp_path / "r"), "data.name=image_folder", f"data.root={root}",
              "data.image_size=12", "model.name=cnn", "optim.epochs=4", "loss.start_epoch=6",
              "noise.kind=flip", "noise.rate=0.3")
    assert res.returncode == 0, res.stderr
    assert "SAT never starts" in res.stdout                         # E_s beyond the run: said, not silent
    assert "epoch 1/4:" in res.stdout and "epoch 4/4:" in res.stdout   # progress lines without a terminal
    issues = sat("issues", str(tmp_path / "r"), "--top", "2")
    assert issues.returncode == 0, issues.stderr
    rows = list(csv.DictReader(open(tmp_path / "r" / "label_issues.csv")))
    for r in rows:
        assert (root / r["path"]).is_file() and r["path"].split("/")[1] in ("cat", "dog")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["start_epoch"] == 6 and summary["noise_kind"] == "flip"


@pytest.mark.slow
def test_an_imbalanced_test_set_reports_balanced_and_per_class_accuracy(tmp_path):
    # a table whose test split is 90% one class: a majority guess scores 90% accuracy but 50% balanced
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x_test = rng.normal(size=(100, 3)).astype(np.float32)
    x_test[:90, 0] = -np.abs(x_test[:90, 0]) - 0.5          # class 0
    x_test[90:, 0] = np.abs(x_test[90:, 0]) + 0.5           # class 1
    y_test = (x_test[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "t.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    res = sat("train", "--out", str(tmp_path / "r"), "data.name=npz", f"data.root={tmp_path / 't.npz'}",
              "optim.epochs=1", "log.progress=false", "model.base_width=8")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    per_class = summary["test_acc_per_class_last"]
    assert len(per_class) == 2
    assert summary["test_balanced_acc_last"] == pytest.approx(sum(per_class) / 2)
    assert summary["test_acc_last"] == pytest.approx(0.9 * per_class[0] + 0.1 * per_class[1])
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["test_balanced_acc"] == summary["test_balanced_acc_last"]
    ev = sat("eval", str(tmp_path / "r"), "--json")
    assert ev.returncode == 0, ev.stderr
    found = json.loads(ev.stdout)
    assert found["balanced_accuracy"]["test"] == pytest.approx(summary["test_balanced_acc_last"])
    assert found["per_class_accuracy"]["test"] == pytest.approx(per_class)
    differ = abs(summary["test_balanced_acc_last"] - summary["test_acc_last"]) >= 0.005
    assert ("balanced accuracy" in res.stdout) == differ
    assert ("balanced" in sat("eval", str(tmp_path / "r")).stdout) == differ
