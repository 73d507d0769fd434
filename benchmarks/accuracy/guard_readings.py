"""What the class-collapse guard of ``start_epoch=auto`` reads at every epoch boundary before SAT starts.

    python -m benchmarks.accuracy.guard_readings --config fmnist-u40-mlp-memorise-sat --name rho100-s0 \\
        --out benchmarks/results/guard_readings.json -- data.name=npz data.root=LT.npz noise.kind=uniform seed=0

Trains the run as ``sat train`` would (``--stop`` ends it after that many epochs; the schedule keeps the
configured length) and records, as each epoch begins while SAT has not started: the smallest class ratio of the
latest training passes, the classes under the guard's ratio (or held), and four readings of how the passes'
disagreements with the given labels spread: the disagreement concentration over every class (the memorisation
gate's), over the classes that did not collapse (the guard's pair-like reading), and the latter relative to what
spreading by class shares would give (given-label shares, or predicted shares), which reads 1 when each class's
disagreements go to the other classes in proportion to their size (uniform noise on long-tailed data) and
rises as they pile up on partners.  Results are appended to ``--out`` under ``--name``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import machine, use_local_data_home
from selfadaptive import load_config, train
from selfadaptive.config.presets import resolve_config
from selfadaptive.losses.auto_start import AutoStart


def relative_concentration(given: torch.Tensor, pred: torch.Tensor, num_classes: int, shares: torch.Tensor):
    """The pooled chance that two disagreements of one given class name the same other class, over the same
    chance if each class's disagreements went to the other classes in proportion to ``shares`` (K,); None
    without two disagreements in any class.  Equals ``disagreement_concentration`` for equal shares."""
    k = num_classes
    off = given != pred
    counts = torch.bincount(given[off] * k + pred[off], minlength=k * k).view(k, k).double()
    pairs = counts.sum(dim=1) * (counts.sum(dim=1) - 1)
    if pairs.sum() <= 0:
        return None
    observed = (counts * (counts - 1)).sum() / pairs.sum()
    others = shares.double().expand(k, k).clone().fill_diagonal_(0)
    others = others / others.sum(dim=1, keepdim=True).clamp_min(1e-300)
    expected = (pairs * (others ** 2).sum(dim=1)).sum() / pairs.sum()
    return float(observed / expected)


class Stop(Exception):
    pass


def readings(auto: AutoStart, epoch: int) -> dict:
    latest = auto.latest_pred()
    seen = latest >= 0
    ratios = auto.class_ratios()
    collapsed = auto.held.nonzero().flatten().tolist() if auto.was_held else auto.collapsed_classes()
    given = auto.given_labels.long().to(latest.device)
    keep = seen & ~torch.isin(given, torch.tensor(collapsed, dtype=torch.long)) if collapsed else seen
    k = len(auto.given_counts)
    predicted = torch.bincount(latest[seen].long(), minlength=k)
    return {"epoch": epoch, "held_at": int(auto.held_at), "started": auto.started,
            "min_class_ratio": None if ratios is None else float(ratios[~ratios.isnan()].min()),
            "collapsed_or_held": collapsed, "concentration_all": auto.measure_concentration(),
            "concentration_not_collapsed": auto.measure_concentration(collapsed),
            "relative_to_given_shares": relative_concentration(given[keep], latest[keep].long(), k, auto.given_counts),
            "relative_to_predicted_shares": relative_concentration(given[keep], latest[keep].long(), k, predicted)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="a preset name or YAML path")
    p.add_argument("--name", required=True, help="the key of this run in --out")
    p.add_argument("--stop", type=int, default=None, help="end the run after this many epochs")
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*", help="dotted overrides, as for sat train")
    args = p.parse_args(argv)
    use_local_data_home()
    rows: list[dict] = []
    begin = AutoStart.begin

    def recording(self, epoch):
        new = epoch != self._epoch
        begin(self, epoch)
        if new and epoch > 0 and self.given_labels is not None and not self.started:
            rows.append(readings(self, epoch))
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
        if args.stop is not None and epoch >= args.stop:
            raise Stop
    AutoStart.begin = recording
    cfg = load_config(resolve_config(args.config), list(args.overrides) + ["log.progress=false"])
    with tempfile.TemporaryDirectory() as tmp:
        try:
            train(cfg, Path(tmp) / "run", quiet=True)
        except Stop:
            pass
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    result["runs"][args.name] = {"config": args.config, "overrides": args.overrides, "stop": args.stop,
                                 "readings": rows}
    result["machine"] = machine()
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
