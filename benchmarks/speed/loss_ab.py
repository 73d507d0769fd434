"""SAT's loss step (forward + backward) in two checkouts, timed in alternation: did a change make it cheaper?

    python -m benchmarks.speed.loss_ab --src OLD_CHECKOUT/src,src --rounds 5 --out benchmarks/results/loss_ab.json

Each round runs one fresh process per checkout, in turn (one thread; the digits default's shapes: batch 64,
K = 10, N = 1,347), which times ``--calls`` steps of each form after 200 to warm up: plain cross-entropy
(``CrossEntropyLoss``), SAT from epoch 0 in its CE and SCE forms, and ``warm_up``, ``start_epoch=auto``
before its rule fires (cross-entropy plus the per-sample record the rule reads).  The figure is the median
over rounds of microseconds per step; alternating the checkouts round by round keeps a drift of the
machine's speed from reading as a difference between them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.common import machine, result_path, write_result

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(1)
from selfadaptive.losses.sat import SelfAdaptiveLoss
from selfadaptive.losses.ce import CrossEntropyLoss
from selfadaptive.losses.collectives import local_mean
n, k, b, calls = 1347, 10, 64, int(sys.argv[1])
g = torch.Generator().manual_seed(0)
labels = torch.randint(0, k, (n,), generator=g)
logits = torch.randn(b, k, generator=g) * 3
batches = [torch.randperm(n, generator=g)[:b] for _ in range(20)]
out = {}
for form in ("plain", "ce", "sce", "warm_up"):
    # warm_up: start_epoch=auto before its rule fires (the same logits every epoch: no change, no firing),
    # 21 steps an epoch, so each epoch's close is paid as in the digits run
    start, variant = ("auto", "sce") if form == "warm_up" else (0, form)
    if form == "plain":
        loss = CrossEntropyLoss(reduce=local_mean)
    else:
        loss = SelfAdaptiveLoss(labels, k, start_epoch=start, variant=variant, reduce=local_mean)
    def step(s):
        z = logits.clone().requires_grad_()
        idx = batches[s % 20]
        loss(z, labels[idx], idx, s // 21 if start == "auto" else 0).backward()
    for s in range(200):
        step(s)
    t0 = time.perf_counter()
    for s in range(calls):
        step(s)
    out[form] = (time.perf_counter() - t0) / calls * 1e6
    assert start == 0 or form == "plain" or loss.start_epoch_chosen is None
print(json.dumps(out))
"""


FORMS = ("plain", "ce", "sce", "warm_up")


def time_checkout(src: str, calls: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(calls)], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--src", required=True, help="comma-separated src folders of the checkouts to compare")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--out", default=result_path("loss_ab.json"))
    args = p.parse_args(argv)
    sources = [s for s in args.src.split(",") if s]
    runs = {src: [] for src in sources}
    for r in range(args.rounds):
        for src in (sources if r % 2 == 0 else sources[::-1]):
            runs[src].append(time_checkout(src, args.calls))
    medians = {src: {v: statistics.median(t[v] for t in times) for v in FORMS} for src, times in runs.items()}
    write_result(args.out, {"per_round_us": runs, "median_us": medians, "calls": args.calls, "machine": machine()})
    for src, m in medians.items():
        print(f"{src:30s} plain CE {m['plain']:6.1f} us, SAT CE form {m['ce']:6.1f}, SCE form {m['sce']:6.1f}, "
              f"auto before its start {m['warm_up']:6.1f} (median of {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
