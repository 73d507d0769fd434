"""benchmarks/gpu_check.sh stays runnable: its --cpu-smoke mode runs every step on CPU, in the two
calls the script's header prescribes for a device (side by side here)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import shared_file

from benchmarks.gpu_summary import summarise

ROOT = Path(__file__).resolve().parents[1]
CALLS = {"first": "tests,throughput,noise,hostbank,ssl", "second": "selective,robust,long"}


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tmp_path):
    data = shared_file("cifar10_from_jpeg.npz")
    procs = {}
    for name, parts in CALLS.items():
        env = dict(os.environ, OUT=str(tmp_path / name), PYTHON=sys.executable, SAT_CIFAR=str(data),
                   OMP_NUM_THREADS="1", PARTS=parts)
        procs[name] = subprocess.Popen(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke"], env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, p in procs.items():
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, (name, err[-2000:])
        assert "done in" in (tmp_path / name / "log.txt").read_text()
    first, second = tmp_path / "first", tmp_path / "second"
    assert "1 passed" in (first / "log.txt").read_text()          # the device tests' part
    rows = json.loads((first / "step_throughput.json").read_text())["rows"]
    assert rows[0]["ce_images_per_s"] > 0 and rows[0]["sat_overhead"] > 0
    for run, epochs in (("u40-sat", 2), ("u40-ce", 2), ("u40-auto", 2), ("long-ce", 3), ("long-sat", 3), ("long-auto", 3)):
        metrics = ((first if run.startswith("u40") else second) / run / "metrics.jsonl").read_text().splitlines()
        assert len(metrics) == epochs and "time_s" in json.loads(metrics[-1]) and "val_acc_noisy" in json.loads(metrics[-1])
    ssl = [json.loads(l) for l in (first / "ssl-sat" / "metrics.jsonl").read_text().splitlines()]
    assert len(ssl) == 2 and "knn_acc" in ssl[-1]
    assert not (first / "selective-sat").exists() and not (second / "u40-sat").exists()     # PARTS chose
    for method, score in (("sat", "abstain class"), ("ce", "softmax response")):
        sel = json.loads((second / f"selective-{method}" / "selective.json").read_text())
        assert sel["score"] == score and 0 <= sel["augrc"] <= 0.5 and len(sel["paper_protocol"]["coverages"]) == 7
    for method in ("trades", "trades-sat"):
        robust = json.loads((second / f"robust-{method}" / "robust.json").read_text())
        assert robust["last"]["epoch"] == 1 and robust["attack"] == "pgd2"
    sat_state = (second / "robust-trades-sat" / "summary.json").read_text()
    assert json.loads(sat_state)["start_epoch"] == 1
    # the summary of a check reads both folders' runs back
    one, two = summarise(first), summarise(second)
    assert set(one["noise"]) == {"u40-sat", "u40-ce", "u40-auto", "u40-sat-hostbank"} and "ssl" in one
    assert set(two["noise"]) == {"long-ce", "long-sat", "long-auto"} and two["noise"]["long-ce"]["epochs"] == 3
    assert set(two["selective"]) == {"selective-sat", "selective-ce"} and set(two["robust"]) == {"robust-trades",
                                                                                                   "robust-trades-sat"}


def test_gpu_check_refuses_an_unknown_part(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, PARTS="noise,selectve")
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown part 'selectve'" in p.stderr
    assert not (tmp_path / "u40-sat").exists()          # refused before any part ran
