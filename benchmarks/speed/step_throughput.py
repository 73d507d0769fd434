"""Training-step throughput, CE vs SAT, on any device: images/s and the SAT overhead ratio.

Each step is the trainer's: index the uint8 training tensor on the device, crop and flip on the
device, scale, forward (bf16 autocast on CUDA), loss, backward, SGD step.  SAT runs past E_s, so
every step updates the bank.  Timed after warm-up, with the device synchronised.

    python -m benchmarks.speed.step_throughput --models resnet18,resnet34 --batch 256 --steps 50 \
        --out benchmarks/results/step_throughput.json
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import result_path, write_result
from selfadaptive.config import ModelConfig
from selfadaptive.data import to_float
from selfadaptive.data.augment import crop_flip
from selfadaptive.engine.devices import resolve_device
from selfadaptive.losses import CrossEntropyLoss, SelfAdaptiveLoss
from selfadaptive.models import build_model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(model_name: str, loss_name: str, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                      batch: int, steps: int, warmup: int, bf16: bool, channels_last: bool, compile_model: bool,
                      width: int) -> float:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=model_name, base_width=width), 10, (3, 32, 32),
                        torch.tensor([0.49, 0.48, 0.45]), torch.tensor([0.2, 0.2, 0.2])).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_model else model
    loss_fn = (SelfAdaptiveLoss(y.cpu(), 10, start_epoch=0) if loss_name == "sat" else CrossEntropyLoss()).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    n = len(y)
    g = torch.Generator(device="cpu").manual_seed(1)
    t0 = None
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            t0 = time.perf_counter()
        idx = torch.randint(0, n, (batch,), generator=g).to(device, non_blocking=True)
        xb = to_float(crop_flip(x[idx], 4))
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = net(xb)
        loss = loss_fn(logits, y[idx], idx, 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/data/cifar10_from_jpeg.npz")
    p.add_argument("--models", default="resnet18,resnet34")
    p.add_argument("--width", type=int, default=0, help="model.base_width (0: the model's default)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--out", default=result_path("step_throughput.json"))
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    channels_last = device.type == "cuda"
    with np.load(args.data) as z:
        x = torch.from_numpy(np.ascontiguousarray(z["x_train"].transpose(0, 3, 1, 2))).to(device)   # uint8, on device
        y = torch.from_numpy(z["y_train"].astype(np.int64)).to(device)
    result = {"device": str(device), "name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
              "batch": args.batch, "steps": args.steps, "bf16": bf16, "channels_last": channels_last,
              "compile": args.compile, "torch": torch.__version__, "rows": []}
    for model_name in args.models.split(","):
        rates = {loss: images_per_second(model_name, loss, x, y, device, args.batch, args.steps, args.warmup, bf16,
                                         channels_last, args.compile, args.width) for loss in ("ce", "sat")}
        row = {"model": model_name, "ce_images_per_s": rates["ce"], "sat_images_per_s": rates["sat"],
               "sat_overhead": rates["ce"] / rates["sat"]}
        result["rows"].append(row)
        print(f"{model_name}: CE {rates['ce']:,.0f} images/s, SAT {rates['sat']:,.0f} images/s, "
              f"SAT time / CE time {row['sat_overhead']:.3f}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
