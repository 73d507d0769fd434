"""SAT's cost per training step relative to CE, on CIFAR-sized batches (B x 3 x 32 x 32).

    python -m benchmarks.speed.overhead --models cnn,resnet18 --batch 128 --reps 15 \
        --out benchmarks/results/overhead_cpu.json

One step = forward, loss, backward, optimiser step.  CE and SAT steps alternate so that any drift
in machine load hits both alike; the ratio is median(SAT) / median(CE).  The SAT bank holds
N = 50,000 rows (CIFAR-10) and the loss runs after E_s, so every step updates it.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import write_result
from selfadaptive import CrossEntropyLoss, SelfAdaptiveLoss
from selfadaptive.config import ModelConfig
from selfadaptive.models import build_model


def step_time(model, loss_fn, opt, x, y, idx) -> float:
    t = time.perf_counter()
    loss = loss_fn(model(x), y, idx, 1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="cnn,resnet18")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    n, k = 50_000, 10
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, k, (n,), generator=g)
    results = {}
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_model(ModelConfig(name=name), k, (3, 32, 32), torch.full((3,), 0.5), torch.full((3,), 0.25)).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        losses = {"ce": CrossEntropyLoss().to(dev), "sat": SelfAdaptiveLoss(labels, k, start_epoch=0).to(dev)}
        times = {"ce": [], "sat": []}
        for rep in range(args.warmup + args.reps):
            for which in (("ce", "sat") if rep % 2 == 0 else ("sat", "ce")):
                idx = torch.randperm(n, generator=g)[:args.batch].to(dev)
                x = torch.rand(args.batch, 3, 32, 32, generator=g).to(dev)
                t = step_time(model, losses[which], opt, x, labels[idx.cpu()].to(dev), idx)
                if rep >= args.warmup:
                    times[which].append(t)
        ce, sat = statistics.median(times["ce"]), statistics.median(times["sat"])
        results[name] = {"ce_step_s": ce, "sat_step_s": sat, "ratio": sat / ce, "reps": args.reps, "batch": args.batch,
                         "ce_all": times["ce"], "sat_all": times["sat"]}
        print(f"{name}: CE {1000 * ce:.1f} ms/step, SAT {1000 * sat:.1f} ms/step, ratio {sat / ce:.3f}", flush=True)
    payload = {"device": str(dev), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "platform": platform.platform(), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, payload)


if __name__ == "__main__":
    main()
