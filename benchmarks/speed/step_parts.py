"""Where SAT's whole-run overhead on a small MLP goes: each piece of one training step, timed alone.

    python -m benchmarks.speed.step_parts --out benchmarks/results/step_parts_cpu.json

``--variant ce`` times the paper's CE form (the figures stored before session 24 are that form's);
the default is the SCE form a run trains by default.

One thread; batch 64, K = 10, N = 1,347 (the digits default).  Each piece runs 200 times to warm
up, then ``--repeats`` times; the figure is microseconds per call.  The pieces are SAT's loss
forward and backward against CE's, the parts of SAT's forward (softmax for the bank, the bank
gather-average-scatter, confidence weights, the weighted soft cross-entropy and its reduction),
the tracker's per-step record against CE's argmax, and the MLP 2x512 CE step they sit in.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from benchmarks.common import machine, result_path, write_result
from selfadaptive import SelfAdaptiveLoss
from selfadaptive import functional as SF
from selfadaptive.issues.tracker import prediction_record


def per_call_us(fn, repeats: int) -> float:
    for _ in range(200):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3000)
    p.add_argument("--variant", default="sce", choices=("ce", "sce"), help="SAT's form (sce: the default of a run)")
    p.add_argument("--out", default=result_path("step_parts_cpu.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    n, k, b = 1347, 10, 64
    labels = torch.randint(0, k, (n,))
    sat = SelfAdaptiveLoss(labels, k, start_epoch=0, variant=args.variant)
    logits = torch.randn(b, k, requires_grad=True)
    idx = torch.randperm(n)[:b]
    y = labels[idx]
    rows = SF.bank_rows(sat.soft_targets, idx)
    probs = F.softmax(logits.detach(), dim=1)
    weights = SF.confidence_weights(rows)
    net = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
                              torch.nn.Linear(512, k))
    x = torch.randn(b, 64)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def mlp_step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    pieces = {
        "mlp_ce_step": (mlp_step, args.repeats // 3),
        "ce_loss_forward_backward": (lambda: F.cross_entropy(logits, y).backward(), args.repeats),
        "sat_loss_forward_backward": (lambda: sat(logits, y, idx, 1).backward(), args.repeats),
        "sat_loss_forward": (lambda: sat(logits, y, idx, 1), args.repeats),
        "sat_softmax_for_bank": (lambda: F.softmax(logits.detach().float(), dim=1), args.repeats),
        "sat_bank_update": (lambda: sat.update_bank(idx, probs, lambda o, new: SF.ema_update(o, new, 0.9)),
                            args.repeats),
        "sat_confidence_weights": (lambda: SF.confidence_weights(rows), args.repeats),
        "sat_weighted_soft_ce_forward": (lambda: sat.reduce(SF.soft_cross_entropy(logits, rows), weights),
                                         args.repeats),
        "tracker_record": (lambda: prediction_record(logits, y, k), args.repeats),
        "ce_run_argmax": (lambda: logits.detach()[:, :k].argmax(dim=1), args.repeats),
    }
    result = {name: per_call_us(fn, reps) for name, (fn, reps) in pieces.items()}
    extra = (result["sat_loss_forward_backward"] - result["ce_loss_forward_backward"]
             + result["tracker_record"] - result["ce_run_argmax"])
    summary = {"per_call_us": result, "variant": args.variant, "sat_extra_per_step_us": extra,
               "sat_extra_over_mlp_step": extra / result["mlp_ce_step"], "threads": 1, "batch": b, "classes": k,
               "machine": machine()}
    write_result(args.out, summary)
    for name, us in result.items():
        print(f"{name:32s} {us:8.1f} us")
    print(f"SAT adds {extra:.0f} us per step: {100 * summary['sat_extra_over_mlp_step']:.1f}% of the MLP step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
