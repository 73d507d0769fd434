"""Model-wise and epoch-wise double descent at CPU scale: ERM vs SAT (the paper's Fig. 3/4, docs/method.md §7).

Two width sweeps (``sat sweep``) of the presets ``mnist-dd-mlp-ce`` and ``mnist-dd-mlp-sat``: MNIST
4k, 20% uniform label noise, a one-hidden-layer MLP of width 4..2048, Adam, 200 epochs, several
seeds; optionally a third sweep with SAT's alpha/E_s rescaled by width (``loss.reference_width``).
Every run logs test accuracy every epoch, so the same runs give the model-wise curve (last
epoch, by width) and the epoch-wise curves (by epoch, at each width).  Numbers go to JSON, curves
to one figure; everything is read back from the run folders.

    python -m benchmarks.accuracy.double_descent --jobs 2
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.common import result_path, split_overrides, write_result
from selfadaptive.runs.sweep import run_name, sweep

WIDTHS = "4,6,8,12,16,24,32,48,64,128,256,512,1024,2048"
TAIL = 10


def run_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run_folder(out: Path, width: str, seed: str, seeds: list[str]) -> Path:
    # a sweep with one seed has it as a fixed override, not an axis, so not in the run's name
    return out / run_name({"model.base_width": width, **({"seed": seed} if len(seeds) > 1 else {})})


def collect(out: Path, widths: list[str], seeds: list[str]) -> dict:
    """Per width: test error (%) at the last and the best epoch, share of wrong labels fitted, and
    the per-epoch test error; mean over seeds with the per-seed values."""
    by_width = {}
    for w in widths:
        runs = [run_folder(out, w, s, seeds) for s in seeds]
        rows = [run_rows(r) for r in runs]
        summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
        last = [100 * (1 - rs[-1]["test_acc"]) for rs in rows]
        best = [100 * (1 - max(r["test_acc"] for r in rs)) for rs in rows]
        fitted = [100 * rs[-1]["train_memorised_noisy"] for rs in rows]
        curves = [[100 * (1 - r["test_acc"]) for r in rs] for rs in rows]
        # Adam at a constant rate has occasional one-epoch spikes; the mean of the last ten epochs
        # is the steadier model-wise figure (both are reported)
        tail = [statistics.mean(c[-TAIL:]) for c in curves]
        by_width[w] = {
            "test_error_last": statistics.mean(last), "test_error_last_seeds": last,
            "test_error_last_std": statistics.pstdev(last),
            f"test_error_last{TAIL}": statistics.mean(tail), f"test_error_last{TAIL}_std": statistics.pstdev(tail),
            "test_error_best": statistics.mean(best), "wrong_labels_fitted": statistics.mean(fitted),
            "train_error_given_labels": statistics.mean(100 * (1 - rs[-1]["train_acc"]) for rs in rows),
            "test_error_by_epoch": [statistics.mean(v) for v in zip(*curves)],
            "momentum": summaries[0].get("momentum"), "start_epoch": summaries[0].get("start_epoch"),
            "wall_time_s": statistics.mean(s["wall_time_s"] for s in summaries),
        }
    return by_width


def plot(result: dict, path: Path, epoch_widths: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 1 + len(epoch_widths), figsize=(5.2 * (1 + len(epoch_widths)), 4))
    ax = axes[0]
    fitted = ax.twinx()
    styles = {"ce": ("C3", "ERM (CE)"), "sat": ("C0", "SAT"), "sat_rescaled": ("C2", "SAT, alpha/E_s rescaled")}
    for name, by_width in result["sweeps"].items():
        color, label = styles[name]
        ws = [int(w) for w in by_width]
        err = [v[f"test_error_last{TAIL}"] for v in by_width.values()]
        std = [v[f"test_error_last{TAIL}_std"] for v in by_width.values()]
        ax.errorbar(ws, err, yerr=std, color=color, marker="o", ms=3, capsize=2, label=label)
        fitted.plot(ws, [v["wrong_labels_fitted"] for v in by_width.values()], color=color, ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden width")
    ax.set_ylabel(f"test error, mean of the last {TAIL} epochs (%)")
    fitted.set_ylabel("wrong training labels fitted (%, dotted)")
    fitted.set_ylim(0, 100)
    ax.set_title("model-wise")
    ax.legend(fontsize=7)
    for ax, w in zip(axes[1:], epoch_widths):
        for name, by_width in result["sweeps"].items():
            if w in by_width:
                color, label = styles[name]
                ax.plot(range(1, len(by_width[w]["test_error_by_epoch"]) + 1), by_width[w]["test_error_by_epoch"],
                        color=color, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"epoch-wise, width {w}")
        ax.legend(fontsize=7)
    fig.suptitle(result["regime"], fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", default=WIDTHS)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--rescaled-seeds", default="0", help="seeds of the rescaled-SAT sweep; empty to skip it")
    p.add_argument("--reference-width", default="64", help="loss.reference_width of the rescaled-SAT sweep")
    p.add_argument("--overrides", default="", help="comma-separated overrides for every run (e.g. optim.epochs=20)")
    p.add_argument("--epoch-widths", default="32,2048", help="widths whose per-epoch curves are plotted")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs", default="runs/double-descent")
    p.add_argument("--out", default=result_path("double_descent_mnist.json"))
    p.add_argument("--figure", default="docs/figures/double_descent_mnist.png")
    args = p.parse_args(argv)
    widths, seeds = args.widths.split(","), args.seeds.split(",")
    fixed = split_overrides(args.overrides) + ["log.progress=false"]
    plan = {"ce": ("mnist-dd-mlp-ce", seeds, []), "sat": ("mnist-dd-mlp-sat", seeds, [])}
    if args.rescaled_seeds:
        plan["sat_rescaled"] = ("mnist-dd-mlp-sat", args.rescaled_seeds.split(","),
                                [f"loss.reference_width={args.reference_width}"])
    result = {"regime": "MNIST 4k, 20% uniform label noise, 1-hidden-layer MLP, Adam 1e-3, 200 epochs"
                        + (f" ({', '.join(fixed[:-1])})" if fixed[:-1] else ""),
              "widths": widths, "seeds": {}, "overrides": fixed, "sweeps": {}}
    for name, (preset, run_seeds, extra) in plan.items():
        out = Path(args.runs) / name
        sweep(preset, out, [f"model.base_width={args.widths}", "seed=" + ",".join(run_seeds), *fixed, *extra],
              jobs=args.jobs)
        result["seeds"][name] = run_seeds
        result["sweeps"][name] = collect(out, widths, run_seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result, indent=1)
    print(f"{'width':>6} " + " ".join(f"{n + ' last':>17} {n + f' last{TAIL}':>17} {n + ' fitted':>12}"
                                      for n in result["sweeps"]))
    for w in widths:
        print(f"{w:>6} " + " ".join(
            f"{s[w]['test_error_last']:>11.2f}±{s[w]['test_error_last_std']:<5.2f} "
            f"{s[w][f'test_error_last{TAIL}']:>11.2f}±{s[w][f'test_error_last{TAIL}_std']:<5.2f} "
            f"{s[w]['wrong_labels_fitted']:>12.1f}" for s in result["sweeps"].values()))
    plot(result, Path(args.figure), [w for w in args.epoch_widths.split(",") if w in widths])
    print(f"wrote {args.out} and {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
