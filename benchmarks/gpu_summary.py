"""One JSON of the figures a ``benchmarks/gpu_check.sh`` folder holds, read from its run folders only.

    python -m benchmarks.gpu_summary runs/gpu-check --out benchmarks/results/gpu_check_h200.json \\
        [--throughput-repeats a.json b.json ...] [--note "what the runs came from"]

Noise runs: test accuracy at the last and best epochs, at the epoch the noisy validation split picks, the
chosen start epoch, detection AUROC, wall time.  Selective: accuracy, AURC, AUGRC and the paper-protocol
selective errors.  Robust: ``robust.json``'s last and best rows.  SSL: the last row's kNN accuracy and
collapse metrics.
"""
import argparse
import json
import statistics
from pathlib import Path

from selfadaptive.engine.runfolder import RunDir

from .common import write_result


def noise_run(run: Path) -> dict:
    folder = RunDir(run)
    rows, summary = folder.read_metrics(), folder.read_summary()
    best = max(rows, key=lambda r: r["test_acc"])
    out = {"epochs": len(rows), "test_acc_last": rows[-1]["test_acc"], "test_acc_best": best["test_acc"],
           "best_epoch": best["epoch"], "wall_s": rows[-1]["time_s"],
           "epoch_s_median": statistics.median_high(b["time_s"] - a["time_s"] for a, b in zip(rows, rows[1:]))}
    for key in ("selected_epoch", "test_acc_at_selected", "start_epoch_chosen", "detection_auroc"):
        if key in summary:
            out[key] = summary[key]
    return out


def summarise(folder: Path) -> dict:
    result = {}
    if (folder / "gpu.txt").exists():
        result["gpu"] = (folder / "gpu.txt").read_text().splitlines()[-1]
    if (folder / "step_throughput.json").exists():
        result["step_throughput"] = json.loads((folder / "step_throughput.json").read_text())
    result["noise"] = {run.name: noise_run(run) for run in sorted(folder.glob("u40-*")) + sorted(folder.glob("long-*"))
                       if (run / "summary.json").exists()}
    selective = {}
    for run in sorted(folder.glob("selective-*")):
        if (run / "selective.json").exists():
            s, rows = json.loads((run / "selective.json").read_text()), RunDir(run).read_metrics()
            selective[run.name] = {"score": s["score"], "accuracy": s["accuracy"], "aurc": s["aurc"], "augrc": s["augrc"],
                                   "train_acc_last": rows[-1]["train_acc"], "epochs": len(rows),
                                   "paper_protocol": {k: s["paper_protocol"][k] for k in ("coverages", "val_size",
                                                                                         "test_selective_error")}}
    result["selective"] = selective
    result["robust"] = {run.name: json.loads((run / "robust.json").read_text()) for run in sorted(folder.glob("robust-*"))
                        if (run / "robust.json").exists()}
    ssl = folder / "ssl-sat"
    if (ssl / "metrics.jsonl").exists():
        last = RunDir(ssl).read_metrics()[-1]
        result["ssl"] = {k: last[k] for k in ("epoch", "knn_acc", "embedding_std_ratio", "effective_rank", "time_s")}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--out", required=True)
    p.add_argument("--throughput-repeats", nargs="*", type=Path, default=[],
                   help="more step_throughput.json files from the same machine (the ratio's spread)")
    p.add_argument("--note", default="", help="what the folder's figures came from (commit, data), stored with them")
    args = p.parse_args()
    result = summarise(args.folder)
    if args.note:
        result["note"] = args.note
    if args.throughput_repeats:
        result["step_throughput_repeats"] = [json.loads(f.read_text()) for f in args.throughput_repeats]
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
