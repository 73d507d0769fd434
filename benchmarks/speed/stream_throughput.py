"""Streamed image folders (``data.stream=true``): decoding throughput by worker count, and what stays in memory.

Writes ``--images`` CIFAR-10 training images (the shared copy) as JPEG files into class folders,
then times one pass in shuffled batches, as the trainer reads them: ``read_batches`` over
``ImageFiles`` (Pillow decode + resize in 0, 1, 2 ... DataLoader workers), followed by the batched
crop+flip; and the same pass with an SGD step of a small CNN per batch, where workers decode the
next batches while the step runs.  For comparison: loading the whole folder into memory first (``data.stream=false``),
and then a pass over the in-memory tensor.

    python -m benchmarks.speed.stream_throughput --out benchmarks/results/stream_cpu.json
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import result_path, write_result
from selfadaptive.data import batches, read_batches, to_float
from selfadaptive.data.augment import crop_flip
from selfadaptive.data.image_folder import load_image_folder
from selfadaptive.models.cnn import SmallCNN


def write_folder(root: Path, x: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
    from PIL import Image
    for i, (img, label) in enumerate(zip(x, y)):
        d = root / "train" / classes[label]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:06d}.jpg", quality=90)


def one_pass(x, batch: int, model=None, seed: int = 0) -> float:
    """Images/s of one shuffled pass: read (decode) the batch, crop+flip and scale it, and with a
    ``model`` take an SGD step on it, as training does (workers decode while the step runs)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.SGD(model.parameters(), lr=0.01) if model is not None else None
    t0 = time.perf_counter()
    seen = 0
    for xb in read_batches(x, list(batches(len(x), batch, order))):
        xf = to_float(crop_flip(xb, 4))
        if model is not None:
            loss = model(xf).logsumexp(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        seen += xf.shape[0]
    return seen / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/data/cifar10_from_jpeg.npz")
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--workers", default="0,1,2")
    p.add_argument("--cnn-width", type=int, default=16)
    p.add_argument("--out", default=result_path("stream_cpu.json"))
    args = p.parse_args(argv)
    with np.load(args.data) as z:
        rows = np.random.default_rng(0).permutation(len(z["y_train"]))[:args.images]   # the file is sorted by class
        x, y = z["x_train"][rows], z["y_train"][rows]
        classes = [str(c) for c in z["classes"]] if "classes" in z else [str(i) for i in range(10)]
    result = {"images": args.images, "image_size": args.image_size, "batch": args.batch,
              "cores": torch.get_num_threads(), "machine": {"torch": torch.__version__, "platform": platform.platform()},
              "streamed": {}}
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), x, y, classes)
        model = SmallCNN(3, 10, width=args.cnn_width)
        result["streamed_with_step"], result["cnn_width"] = {}, args.cnn_width
        for w in (int(v) for v in args.workers.split(",")):
            files = load_image_folder(tmp, args.image_size, stream=True, workers=w)["x_train"]
            rate = one_pass(files, args.batch)
            with_step = one_pass(files, args.batch, model)
            result["streamed"][str(w)], result["streamed_with_step"][str(w)] = rate, with_step
            print(f"streamed, {w} workers: {rate:,.0f} images/s reading; {with_step:,.0f} images/s with a "
                  f"CNN-w{args.cnn_width} SGD step ({torch.get_num_threads()} torch threads)", flush=True)
        t0 = time.perf_counter()
        x_mem = torch.from_numpy(load_image_folder(tmp, args.image_size)["x_train"])
        result["in_memory_load_s"] = time.perf_counter() - t0
        result["in_memory_pass"] = one_pass(x_mem, args.batch)
        result["in_memory_with_step"] = one_pass(x_mem, args.batch, model)
        result["in_memory_bytes"] = x_mem.numel()
    print(f"in memory: load {result['in_memory_load_s']:.1f} s ({args.images / result['in_memory_load_s']:,.0f} "
          f"images/s, {result['in_memory_bytes'] / 2**20:.1f} MiB held), then {result['in_memory_pass']:,.0f} images/s per pass, "
          f"{result['in_memory_with_step']:,.0f} with the SGD step")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
