"""Where SAT's loss step spends its time, op by op: torch.profiler over the forward and backward of the loss alone.

    python -m benchmarks.speed.loss_profile --out benchmarks/results/loss_profile_cpu.json

One thread; the digits default's shapes (batch 64, K = 10, N = 1,347), SAT from epoch 0, each form (``ce``,
``sce``) and plain cross-entropy for comparison.  ``--steps`` steps are profiled after 200 to warm up; each
op's figure is its self time per step in microseconds, ``op_events`` the profiler's op records per step
(nested ones, such as ``aten::to`` -> ``aten::copy_``, each count; the profiler adds its own cost to every op, so the
totals run above ``loss_ab``'s).  What it answers: is there one piece worth fusing, or is the step many
small dispatches of about the same cost?
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from benchmarks.common import machine, result_path, write_result
from selfadaptive.losses.collectives import local_mean
from selfadaptive.losses.sat import SelfAdaptiveLoss


def profiled(step, steps: int) -> dict:
    """{op name: (self microseconds per step, calls per step)} of ``steps`` calls of ``step``."""
    for s in range(200):
        step(s)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for s in range(steps):
            step(s)
    return {e.key: (e.self_cpu_time_total / steps, e.count / steps) for e in prof.key_averages()
            if e.self_cpu_time_total > 0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--top", type=int, default=12, help="ops printed per form")
    p.add_argument("--out", default=result_path("loss_profile_cpu.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    n, k, b = 1347, 10, 64
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(b, k, generator=g) * 3
    batches = [torch.randperm(n, generator=g)[:b] for _ in range(20)]
    given = [labels[idx] for idx in batches]        # outside the step: indexing the labels is the loop's, not the loss's

    def sat_step(variant):
        loss = SelfAdaptiveLoss(labels, k, start_epoch=0, variant=variant, reduce=local_mean)

        def step(s):
            z = logits.clone().requires_grad_()
            loss(z, given[s % 20], batches[s % 20], 0).backward()
        return step

    def ce_step(s):
        z = logits.clone().requires_grad_()
        F.cross_entropy(z, given[s % 20]).backward()

    result = {"steps": args.steps, "machine": machine(), "forms": {}}
    for name, step in (("sat_ce", sat_step("ce")), ("sat_sce", sat_step("sce")), ("plain_ce", ce_step)):
        ops = profiled(step, args.steps)
        total = sum(us for us, _ in ops.values())
        result["forms"][name] = {"total_us": total, "op_events": sum(c for _, c in ops.values()),
                                 "ops_us_calls": dict(sorted(ops.items(), key=lambda kv: -kv[1][0]))}
        print(f"{name}: {total:.1f} us a step in {len(ops)} kinds of op")
        for op, (us, calls) in list(result["forms"][name]["ops_us_calls"].items())[:args.top]:
            print(f"    {op[:60]:60s} {us:6.1f} us  x{calls:g}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
