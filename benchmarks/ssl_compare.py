"""Self-supervised SAT vs BYOL vs a randomly initialised encoder, at CPU scale (issue: SSL benchmark).

Pretrains the presets ``cifar10sub-ssl-cnn-sat`` and ``cifar10sub-ssl-cnn-byol`` (and with
``--methods`` ``cifar10sub-ssl-cnn-simsiam``; CIFAR-10 10k subset, small CNN, same budget) side by side, then scores each encoder, and the same encoder
freshly initialised, with the kNN probe (k = 200, cosine, T = 0.1) and a linear probe on frozen
features (train: the 10k pretraining images with their labels; test: the CIFAR-10 test set).
Reports the collapse metrics and the bank's memory too.  Everything is read back from the run
folders; a rerun resumes unfinished runs.

    python benchmarks/ssl_compare.py --jobs 2
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from selfadaptive import load_config
from selfadaptive.data import build_data
from selfadaptive.presets import resolve_config
from selfadaptive.pretrain import build_network, monitor, probe
from selfadaptive.session import seed_everything
from selfadaptive.sweep import run_commands, train_args

PRESETS = {"sat_ssl": "cifar10sub-ssl-cnn-sat", "byol": "cifar10sub-ssl-cnn-byol",
           "simsiam": "cifar10sub-ssl-cnn-simsiam"}


def random_encoder(preset: str, overrides: list[str], seed: int) -> dict:
    """The probes and collapse metrics of the preset's networks at initialisation."""
    cfg = load_config(resolve_config(preset), overrides + [f"seed={seed}"])
    seed_everything(cfg.seed)
    data = build_data(cfg.data)
    net = build_network(cfg, data)
    rows = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.ssl.monitor_size]
    return {**probe(net.encoder, data, torch.device("cpu"), cfg),
            **monitor(net, data.train.x[rows.sort().values], torch.device("cpu"), cfg.data.eval_batch_size)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--overrides", default="", help="comma-separated overrides for every run (e.g. optim.epochs=5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="sat_ssl,byol", help=f"comma-separated, of {', '.join(PRESETS)}")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs", default="runs/ssl")
    p.add_argument("--out", default="benchmarks/results/ssl_cifar10sub.json")
    args = p.parse_args(argv)
    over = [o for o in args.overrides.split(",") if o] + [f"seed={args.seed}"]
    methods = {m: PRESETS[m] for m in args.methods.split(",")}
    commands = []
    for method, preset in methods.items():
        run = Path(args.runs) / method
        if (run / "summary.json").is_file():
            continue
        commands.append(train_args(run, preset, over, command="pretrain"))
    codes = []
    run_commands(commands, args.jobs, lambda i, rc: codes.append(rc))
    if any(codes):
        raise SystemExit("a pretraining run failed; rerun to resume it")
    result = {"regime": "CIFAR-10 10k subset (shared JPEG copy), small CNN w16 encoder, batch 256, SGD 0.1 cosine",
              "overrides": over, "methods": {}}
    for method in methods:
        run = Path(args.runs) / method
        summary = json.loads((run / "summary.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        result["methods"][method] = {
            **{k: summary.get(k) for k in ("knn_acc", "linear_acc", "linear_train_acc", "embedding_std_ratio",
                                           "effective_rank", "bank_bytes", "wall_time_s", "epochs")},
            "knn_by_epoch": {r["epoch"]: r["knn_acc"] for r in rows if "knn_acc" in r},
            "effective_rank_by_epoch": [r["effective_rank"] for r in rows],
        }
    result["methods"]["random"] = random_encoder(PRESETS["byol"], over[:-1], args.seed)
    print(f"{'encoder':>8} {'kNN':>7} {'linear':>7} {'std*sqrt(D)':>12} {'eff. rank':>10} {'bank MiB':>9} {'time s':>7}")
    for name, m in result["methods"].items():
        bank = m.get("bank_bytes")
        print(f"{name:>8} {100 * m['knn_acc']:>7.2f} {100 * m['linear_acc']:>7.2f} {m['embedding_std_ratio']:>12.3f} "
              f"{m['effective_rank']:>10.1f} {'-' if not bank else f'{bank / 2**20:.2f}':>9} "
              f"{m.get('wall_time_s') or 0:>7.0f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
