"""Per-epoch checkpoints made durable in the training thread against in the background (``DurableWriter``).

    python -m benchmarks.speed.checkpoint_durability --pairs 12 --out benchmarks/results/checkpoint_durability.json

The built-in digits default for 40 epochs (a checkpoint after every epoch), in one process, alternating a
run whose checkpoints fsync and rename before the next step (``atomic_write``, as before session 32) with
one whose fsync and rename run in the background, so that drift in machine load hits both alike; a first
pair is discarded as warm-up.  Reports each mode's median ``wall_time_s``, the median of the per-pair
ratios, and the process CPU time (which the background thread's system time is part of).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, result_path, write_result
from selfadaptive import load_config, train
from selfadaptive.config.presets import resolve_config
from selfadaptive.engine import runtime

BASE = ["optim.epochs=40", "log.progress=false"]


#: the trainer's ``save_checkpoint``: given the Checkpointer's writer, it fsyncs and renames in the background
SAVE_CHECKPOINT = runtime.save_checkpoint


def in_the_training_thread(path, state, writer=None):
    """``save_checkpoint`` without the writer: fsync and rename before it returns (``atomic_write``)."""
    return SAVE_CHECKPOINT(path, state)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--loss", default="ce", help="loss.name of every run (ce or sat)")
    p.add_argument("--out", default=result_path("checkpoint_durability.json"))
    args = p.parse_args(argv)
    config = resolve_config(args.config)
    modes = {"training_thread": in_the_training_thread, "background": SAVE_CHECKPOINT}
    wall = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs + 1):
            for mode, save in modes.items():
                runtime.save_checkpoint = save
                t = time.process_time()
                summary = train(load_config(config, BASE + [f"loss.name={args.loss}"]), Path(tmp) / f"{mode}-{pair}",
                                quiet=True)
                if pair:        # pair 0 is the warm-up
                    wall[mode].append(summary["wall_time_s"])
                    cpu[mode].append(time.process_time() - t)
            if pair:
                print(f"pair {pair}: in the training thread {wall['training_thread'][-1]:.2f} s, "
                      f"background {wall['background'][-1]:.2f} s", flush=True)
    runtime.save_checkpoint = SAVE_CHECKPOINT
    medians = {m: statistics.median(v) for m, v in wall.items()}
    per_pair = statistics.median(b / s for b, s in zip(wall["background"], wall["training_thread"]))
    result = {"config": args.config, "overrides": BASE + [f"loss.name={args.loss}"], "wall_time_s": wall,
              "cpu_time_s": cpu, "median_s": medians,
              "ratio_background_over_training_thread": medians["background"] / medians["training_thread"],
              "median_of_pair_ratios": per_pair, "median_cpu_s": {m: statistics.median(v) for m, v in cpu.items()},
              "machine": machine()}
    write_result(args.out, result)
    print(f"background / training thread: {result['ratio_background_over_training_thread']:.3f} (median of "
          f"{args.pairs} pairs; per-pair median {per_pair:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
