"""Write a seeded CIFAR-10 subset small enough to travel to a lent GPU machine with the working tree.

The full file (``cifar10_from_jpeg.npz``, 170 MB, rows sorted by class) is over the 64 MiB a device call
carries, so ``benchmarks/gpu_check.sh`` runs there on a shuffled 16,000 / 2,000 image subset, compressed
to about 51 MB:

    python -m benchmarks.gpu_subset                     # -> .gpu/cifar10_sub.npz
    echo /.gpu/ >> .git/info/exclude                    # ignored here, named in the device call's carry
"""
import argparse
from pathlib import Path

import numpy as np


def write_subset(source: Path, out: Path, train: int, test: int, seed: int = 0) -> dict:
    """Seeded random rows of ``source``'s train and test splits -> ``out`` (compressed npz); class counts."""
    data = np.load(source)
    rng = np.random.default_rng(seed)
    if train > len(data["y_train"]) or test > len(data["y_test"]):
        raise SystemExit(f"asked for {train} / {test} images; {source} holds {len(data['y_train'])} / "
                         f"{len(data['y_test'])}")
    rows = rng.permutation(len(data["y_train"]))[:train]
    test_rows = rng.permutation(len(data["y_test"]))[:test]
    arrays = {"x_train": data["x_train"][rows], "y_train": data["y_train"][rows],
              "x_test": data["x_test"][test_rows], "y_test": data["y_test"][test_rows]}
    if "classes" in data.files:
        arrays["classes"] = data["classes"]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return {"train": np.bincount(arrays["y_train"]).tolist(), "test": np.bincount(arrays["y_test"]).tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/cifar10_from_jpeg.npz"))
    p.add_argument("--out", type=Path, default=Path(".gpu/cifar10_sub.npz"))
    p.add_argument("--train", type=int, default=16000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    counts = write_subset(args.data, args.out, args.train, args.test, args.seed)
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.1f} MiB; images per class {counts}")


if __name__ == "__main__":
    main()
