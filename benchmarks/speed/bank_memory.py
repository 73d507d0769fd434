"""Target-bank memory and update time at ImageNet scale (N = 1,281,167, K = 1000) on this machine.

For each storage dtype the SAT loss's own update runs on random batches (gather rows, EMA in
float32, weights, loss, scatter back); the time is the median over ``--steps`` steps, the bank's
forward and backward only (no network).

    python -m benchmarks.speed.bank_memory --out benchmarks/results/bank_memory_cpu.json
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import result_path, write_result
from selfadaptive.losses import SelfAdaptiveLoss

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def measure(n: int, k: int, dtype: torch.dtype, batch: int, steps: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    t0 = time.perf_counter()
    loss_fn = SelfAdaptiveLoss(labels, k, momentum=0.9, start_epoch=0, bank_dtype=dtype)
    build_s = time.perf_counter() - t0
    bank = loss_fn.bank()
    times = []
    for step in range(steps + 3):
        idx = torch.randint(0, n, (batch,), generator=g).unique()
        logits = torch.randn(len(idx), k, generator=g, requires_grad=True)
        y = labels[idx]
        t0 = time.perf_counter()
        loss = loss_fn(logits, y, idx, epoch=1)
        loss.backward()
        if step >= 3:       # warm-up steps excluded
            times.append(time.perf_counter() - t0)
    out = {"dtype": str(dtype).replace("torch.", ""), "bytes": bank.numel() * bank.element_size(),
           "bytes_per_sample": k * bank.element_size(), "build_s": build_s,
           "update_ms_median": 1000 * statistics.median(times), "update_ms_p90": 1000 * sorted(times)[int(0.9 * len(times))]}
    del loss_fn, bank
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_281_167)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--dtypes", default="float32,bfloat16,float16")
    p.add_argument("--out", default=result_path("bank_memory_cpu.json"))
    args = p.parse_args(argv)
    rows = []
    for name in args.dtypes.split(","):
        r = measure(args.n, args.k, DTYPES[name], args.batch, args.steps)
        rows.append(r)
        print(f"{r['dtype']:>9}: {r['bytes'] / 2**30:.2f} GiB ({r['bytes_per_sample']} B/sample), update "
              f"{r['update_ms_median']:.2f} ms median ({r['update_ms_p90']:.2f} p90) per batch of {args.batch}, "
              f"built in {r['build_s']:.1f} s", flush=True)
    result = {"n": args.n, "k": args.k, "batch": args.batch, "steps": args.steps, "rows": rows,
              "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "platform": platform.platform()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
