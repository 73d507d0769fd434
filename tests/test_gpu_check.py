"""benchmarks/gpu_check.sh stays runnable: its --cpu-smoke mode runs every step on CPU."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import shared_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tmp_path):
    data = shared_file("cifar10_from_jpeg.npz")
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable, SAT_CIFAR=str(data), OMP_NUM_THREADS="2")
    res = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "out" / "step_throughput.json").read_text())["rows"]
    assert rows[0]["ce_images_per_s"] > 0 and rows[0]["sat_overhead"] > 0
    for loss in ("sat", "ce"):
        metrics = (tmp_path / "out" / f"u40-{loss}" / "metrics.jsonl").read_text().splitlines()
        assert len(metrics) == 2 and "time_s" in json.loads(metrics[-1])
    ssl = [json.loads(l) for l in (tmp_path / "out" / "ssl-sat" / "metrics.jsonl").read_text().splitlines()]
    assert len(ssl) == 2 and "knn_acc" in ssl[-1]
    assert "done in" in (tmp_path / "out" / "log.txt").read_text()
