"""Self-supervised SAT vs BYOL vs a randomly initialised encoder, at CPU scale (issue: SSL benchmark).

Pretrains the presets ``cifar10sub-ssl-cnn-sat`` and ``cifar10sub-ssl-cnn-byol`` (and with
``--methods`` ``cifar10sub-ssl-cnn-simsiam``; CIFAR-10 10k subset, small CNN, same budget) side by side, then scores each encoder, and the same encoder
freshly initialised, with the kNN probe (k = 200, cosine, T = 0.1) and a linear probe on frozen
features (train: the 10k pretraining images with their labels; test: the CIFAR-10 test set).
Reports the collapse metrics and the bank's memory too.  Everything is read back from the run
folders; a rerun resumes unfinished runs.

    python -m benchmarks.accuracy.ssl_compare --seeds 0,1,2 --methods sat_ssl,byol,simsiam --jobs 2
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from benchmarks.common import result_path, split_overrides, write_result
from selfadaptive import load_config
from selfadaptive.config.presets import resolve_config
from selfadaptive.data import build_data
from selfadaptive.engine.runtime import seed_everything
from selfadaptive.runs.sweep import run_commands, train_args
from selfadaptive.ssl.pretrain import build_network, monitor, probe

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


def run_result(run: Path) -> dict:
    """The probe, collapse and cost fields of one finished pretraining run folder."""
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {**{k: summary.get(k) for k in ("knn_acc", "linear_acc", "linear_train_acc", "embedding_std_ratio",
                                           "effective_rank", "bank_bytes", "wall_time_s", "epochs")},
            "knn_by_epoch": {r["epoch"]: r["knn_acc"] for r in rows if "knn_acc" in r},
            "effective_rank_by_epoch": [r["effective_rank"] for r in rows]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--overrides", default="", help="comma-separated overrides for every run (e.g. optim.epochs=5)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds; the table gives mean and std over them")
    p.add_argument("--methods", default="sat_ssl,byol", help=f"comma-separated, of {', '.join(PRESETS)}")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs", default="runs/ssl", help="run folders: RUNS/METHOD-sSEED")
    p.add_argument("--out", default=result_path("ssl_cifar10sub.json"))
    args = p.parse_args(argv)
    base = split_overrides(args.overrides)
    seeds = [int(x) for x in args.seeds.split(",")]
    methods = {m: PRESETS[m] for m in args.methods.split(",")}
    commands = []
    for seed in seeds:
        for method, preset in methods.items():
            run = Path(args.runs) / f"{method}-s{seed}"
            if not (run / "summary.json").is_file():
                commands.append(train_args(run, preset, base + [f"seed={seed}"], command="pretrain"))
    codes = []
    run_commands(commands, args.jobs, lambda i, rc: codes.append(rc))
    if any(codes):
        raise SystemExit("a pretraining run failed; rerun to resume it")
    per_seed = {}
    for seed in seeds:
        found = {m: run_result(Path(args.runs) / f"{m}-s{seed}") for m in methods}
        found["random"] = random_encoder(PRESETS["byol"], base, seed)
        per_seed[seed] = found
    names = [*methods, "random"]
    keys = ("knn_acc", "linear_acc", "embedding_std_ratio", "effective_rank", "wall_time_s")
    def over_seeds(fn, method, key):     # None when a run did not record the field (e.g. no linear probe)
        values = [per_seed[s][method].get(key) for s in seeds]
        return None if None in values else fn(values)
    mean = {m: {k: over_seeds(statistics.fmean, m, k) for k in keys} for m in names}
    std = {m: {k: over_seeds(statistics.pstdev, m, k) for k in keys} for m in names}
    cfg = load_config(resolve_config(PRESETS["byol"]), base)
    result = {"regime": f"{cfg.data.name} {cfg.data.subset or 'full'} subset, {cfg.model.name} w{cfg.model.base_width} "
                        f"encoder, batch {cfg.data.batch_size}, SGD {cfg.optim.lr:g} {cfg.optim.schedule}, "
                        f"{cfg.optim.epochs} epochs",
              "overrides": base, "seeds": seeds, "per_seed": per_seed, "mean": mean, "std": std}
    print(f"{'encoder':>8} {'kNN':>14} {'linear':>14} {'std*sqrt(D)':>12} {'eff. rank':>10} {'bank MiB':>9} "
          f"{'time s':>7}   ({len(seeds)} seed(s); mean +- population std)")
    pct = lambda m, d, k: "-" if m[k] is None else f"{100 * m[k]:.2f} +-{100 * d[k]:.2f}"    # noqa: E731
    for name in names:
        m, d = mean[name], std[name]
        bank = per_seed[seeds[0]][name].get("bank_bytes")
        wall = "-" if m["wall_time_s"] is None else f"{m['wall_time_s']:.0f}"
        print(f"{name:>8} {pct(m, d, 'knn_acc'):>14} {pct(m, d, 'linear_acc'):>14} {m['embedding_std_ratio']:>12.3f} "
              f"{m['effective_rank']:>10.1f} {'-' if not bank else f'{bank / 2**20:.2f}':>9} {wall:>7}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
