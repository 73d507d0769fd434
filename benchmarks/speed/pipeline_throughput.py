"""Input-pipeline throughput on CIFAR-10 (the shared copy): our batched pipeline vs per-sample Pillow.

* ours: the training set as one uint8 tensor; each batch is indexed, scaled to [0, 1] and given a
  random crop (padding 4) and flip as batched tensor ops (``selfadaptive.augment``), as the trainer
  does; the model normalises.
* baseline, the authors' approach: a ``torch.utils.data.DataLoader`` whose dataset turns each
  sample into a PIL image, pads it by 4, crops 32x32 at random, flips with probability 1/2,
  converts to a float tensor and normalises, per sample, in ``--workers`` worker processes
  (written with Pillow and numpy, since we do not depend on torchvision).

Both produce shuffled (B, 3, 32, 32) float batches; images/s over ``--images`` images.

    python -m benchmarks.speed.pipeline_throughput --out benchmarks/results/pipeline_cpu.json
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
from selfadaptive.data import batches, to_float
from selfadaptive.data.augment import crop_flip

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32)


class PillowCifar(torch.utils.data.Dataset):
    """Per-sample PIL transforms: pad 4, random 32x32 crop, random flip, to tensor, normalise."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        from PIL import Image, ImageOps
        img = ImageOps.expand(Image.fromarray(self.x[i]), border=4, fill=0)
        top, left = np.random.randint(0, 9, size=2)
        img = img.crop((left, top, left + 32, top + 32))
        if np.random.rand() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
        return torch.from_numpy(arr.transpose(2, 0, 1).copy()), int(self.y[i])


def run_ours(x: torch.Tensor, batch: int, images: int, seed: int = 0) -> float:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:images]
    t0 = time.perf_counter()
    seen = 0
    for idx in batches(len(order), batch, order):
        out = to_float(crop_flip(x[idx], 4))        # as the trainer: augment uint8, then scale
        seen += out.shape[0]
    return seen / (time.perf_counter() - t0)


def run_pillow(x: np.ndarray, y: np.ndarray, batch: int, images: int, workers: int) -> float:
    ds = torch.utils.data.Subset(PillowCifar(x, y), range(images))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=False)
    t0 = time.perf_counter()
    seen = 0
    for xb, _ in loader:
        seen += xb.shape[0]
    return seen / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/data/cifar10_from_jpeg.npz")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--workers", default="0,2", help="DataLoader worker counts for the Pillow baseline")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=result_path("pipeline_cpu.json"))
    args = p.parse_args(argv)
    with np.load(args.data) as z:
        x_np, y_np = z["x_train"], z["y_train"]
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))       # (N, 3, 32, 32) uint8
    result = {"images": args.images, "batch": args.batch, "threads": torch.get_num_threads(),
              "machine": {"torch": torch.__version__, "platform": platform.platform()}, "ours": [], "pillow": {}}
    for r in range(args.repeats):
        result["ours"].append(run_ours(x, args.batch, args.images, seed=r))
    best_ours = max(result["ours"])
    print(f"ours (batched torch, {torch.get_num_threads()} threads): {best_ours:,.0f} images/s", flush=True)
    for w in (int(v) for v in args.workers.split(",")):
        rates = [run_pillow(x_np, y_np, args.batch, args.images, w) for _ in range(args.repeats)]
        result["pillow"][str(w)] = rates
        print(f"per-sample Pillow DataLoader, {w} workers: {max(rates):,.0f} images/s "
              f"(ours is {best_ours / max(rates):.1f}x)", flush=True)
    result["speedup_vs_best_pillow"] = best_ours / max(max(v) for v in result["pillow"].values())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
