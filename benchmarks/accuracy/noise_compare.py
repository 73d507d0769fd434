"""Compare losses on identical label noise: last- and best-epoch test accuracy over seeds.

    python -m benchmarks.accuracy.noise_compare --config digits-flip40-sat --losses ce,sat,gce,sce,bootstrap,elr \
        --seeds 0,1,2 --out benchmarks/results/digits_flip40.json

Each (loss, seed) pair trains with the preset plus ``loss.name=<loss> seed=<seed>`` (and any extra
overrides), in its own run folder under --runs.  An entry of --losses may carry its own overrides
after ``+``: ``sat`` is SAT's CE form, as the stored figures were measured (``common.MEASURED_FORM``), and
``sat+loss.variant=sce`` its SCE form, the default of a run.  Finished runs are reused.  The JSON holds every
run's summary and a per-loss mean/std table; a Markdown table is printed.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import MEASURED_FORM, mean_std, write_result
from selfadaptive import load_config, train
from selfadaptive.config.presets import resolve_config
from selfadaptive.engine.runfolder import RunDir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--losses", default="ce,sat")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", required=True, help="results JSON")
    ap.add_argument("--runs", default="runs/bench", help="folder for the run folders")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    losses, seeds = args.losses.split(","), [int(s) for s in args.seeds.split(",")]
    config_path = resolve_config(args.config)
    results = []
    for loss in losses:
        for seed in seeds:
            name, *own = loss.split("+")
            over = [*MEASURED_FORM, *args.overrides, f"loss.name={name}", *own, f"seed={seed}", "log.progress=false"]
            cfg = load_config(config_path, over)
            tag = loss.replace("+", "_").replace("=", "-").replace("loss.", "")
            run = Path(args.runs) / f"{Path(config_path).stem}-{tag}-s{seed}"
            summary = RunDir(run).read_summary()
            if not summary:
                t0 = time.time()
                summary = train(cfg, run, quiet=True, resume=RunDir(run).checkpoint.exists())
                print(f"{loss:>9} seed {seed}: last {summary['test_acc_last']:.4f} best {summary['test_acc_best']:.4f} "
                      f"@{summary['best_epoch']} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
            results.append({**summary, "loss": loss, "seed": seed, "run": str(run)})
    table = {}
    for loss in losses:
        rows = [r for r in results if r["loss"] == loss]
        entry = {k: mean_std([r[k] for r in rows]) for k in ("test_acc_last", "test_acc_best", "best_epoch", "wall_time_s")}
        if all("target_recovery" in r for r in rows):
            entry["target_recovery"] = mean_std([r["target_recovery"] for r in rows])
        table[loss] = entry
    payload = {"config": str(config_path), "overrides": args.overrides, "seeds": seeds, "table": table, "runs": results,
               "machine": {"python": platform.python_version(), "torch": torch.__version__,
                           "cpu_threads": torch.get_num_threads(), "platform": platform.platform()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, payload)
    print("| loss | last-epoch test acc | best-epoch test acc (picked on test) | best epoch | targets recover |")
    print("|---|---|---|---|---|")
    for loss, e in table.items():
        rec = f"{100 * e['target_recovery'][0]:.1f}%" if "target_recovery" in e else "-"
        print(f"| {loss} | {100 * e['test_acc_last'][0]:.2f} ± {100 * e['test_acc_last'][1]:.2f} | "
              f"{100 * e['test_acc_best'][0]:.2f} ± {100 * e['test_acc_best'][1]:.2f} | {e['best_epoch'][0]:.0f} | {rec} |")


if __name__ == "__main__":
    main()
