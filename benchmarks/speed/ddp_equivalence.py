"""One process vs N data-parallel processes (gloo, CPU) on the same global batch: do they agree?

Trains ``--config`` once with ``sat train`` and once with ``sat train --nproc N`` and compares the
final parameters, the soft-target bank and the logged metrics.  Also reports the bytes each rank
receives per step from the target-bank all-gather (sizes, indices, float32 rows of the padded
shards of all ranks), computed from the message shapes, next to DDP's own gradient all-reduce.

    python -m benchmarks.speed.ddp_equivalence --config digits-flip40-sat --overrides optim.epochs=60,loss.start_epoch=10 --nproc 2 \
        --out benchmarks/results/ddp_equivalence.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import result_path, write_result


def run(config: str, out: Path, nproc: int, overrides: list[str]) -> float:
    cmd = [sys.executable, "-m", "selfadaptive", "train", "--config", config, "--out", str(out), "--quiet",
           "log.progress=false", *overrides]
    if nproc > 1:
        cmd[4:4] = ["--nproc", str(nproc)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--overrides", default="optim.epochs=60", help="comma-separated overrides for both runs")
    p.add_argument("--out", default=result_path("ddp_equivalence.json"))
    args = p.parse_args(argv)
    over = [o for o in args.overrides.split(",") if o]
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one", Path(tmp) / "many"
        t_one = run(args.config, one, 1, over)
        t_many = run(args.config, many, args.nproc, over)
        a = torch.load(one / "checkpoint.pt", weights_only=True)
        b = torch.load(many / "checkpoint.pt", weights_only=True)
        param_diff = max((a["model"][k].float() - b["model"][k].float()).abs().max().item() for k in a["model"])
        bank_key = next((k for k in a["loss"] if k.endswith("soft_targets")), None)
        bank_diff = (a["loss"][bank_key] - b["loss"][bank_key]).abs().max().item() if bank_key else None
        sa, sb = (json.loads((r / "summary.json").read_text()) for r in (one, many))
        cfg = __import__("yaml").safe_load((one / "config.yaml").read_text())
        n_params = sum(v.numel() for k, v in a["model"].items() if v.is_floating_point() and "normalize" not in k)
        bank = a["loss"][bank_key] if bank_key else None
    batch, world = cfg["data"]["batch_size"], args.nproc
    shard = math.ceil(batch / world)
    k = bank.shape[1] if bank is not None else 0
    gather_bytes = world * (8 + shard * 8 + shard * k * 4) if bank is not None else 0
    result = {"config": args.config, "overrides": over, "nproc": world, "batch": batch,
              "max_abs_param_diff": param_diff, "max_abs_bank_diff": bank_diff,
              "test_acc_last": {"1": sa["test_acc_last"], str(world): sb["test_acc_last"]},
              "wall_time_s": {"1": t_one, str(world): t_many},
              "bank_all_gather_bytes_per_step_per_rank": gather_bytes,
              "ddp_gradient_all_reduce_bytes_per_step": n_params * 4, "num_classes": k}
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
