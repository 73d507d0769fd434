"""The line under ``sat sweep``'s table: which run the validation split of the user's own labels prefers at
the last epoch, and whether the split tells it from the next one (docs/benchmarks.md §12e, §12k).

Runs that saved their predictions on the split (``validation.npz``) are compared sample by sample: a
two-sided sign test on the samples only one of the two gets right.  With seeds as an axis, the settings are
compared, not single runs: their mean accuracy, and the sign test on the disagreements pooled over the seeds
both settings ran (each seed's pair scores one noisy split, so the pairs are independent).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np

from ..engine.runfolder import RunDir
from ..engine.selection import disagreements, sign_test_p
from ..losses.collapse_guard import PAIR_LIKE_CONCENTRATION  # noqa: F401 (re-exported: the verdict's warning level)


def validation_lead(rows: list[dict]) -> tuple[dict, dict, float | None] | None:
    """The two runs the validation split (the data's own labels) ranks highest at the last epoch, and
    the yardstick their gap is read against: two standard errors of one accuracy, 2 sqrt(p (1 - p) / n)
    on n samples (None when the split's size was not recorded).  None with fewer than two such runs.

    A rule of thumb: the runs are scored on the same samples, so the true error of their difference
    depends on how often they disagree.  docs/benchmarks.md §12e scores it against clean test labels
    over 37 CE / SAT pairs."""
    scored = sorted((r for r in rows if r.get("selection_val_acc_last") is not None),
                    key=lambda r: r["selection_val_acc_last"], reverse=True)
    if len(scored) < 2:
        return None
    best, second = scored[0], scored[1]
    p, n = best["selection_val_acc_last"], best.get("selection_val_size")
    return best, second, (2 * math.sqrt(p * (1 - p) / n) if n else None)


#: two-sided level at which ``validation_verdict``'s paired sign test tells two runs apart
TOLD_APART_P = 0.05


def paired_runs(out: Path, best: dict, second: dict) -> tuple[int, int] | None:
    """(wins, losses) of ``best`` against ``second``: the validation samples only one of their last-epoch
    models gets right, from each run's ``validation.npz``; None unless both hold the same split's labels."""
    a, b = (RunDir(out / r["run"]).read_validation() for r in (best, second))
    if a is None or b is None or not np.array_equal(a["labels"], b["labels"]):
        return None
    return disagreements(a["pred_last"] == a["labels"], b["pred_last"] == b["labels"])


def validation_verdict(rows: list[dict], out: Path | None = None, axes=()) -> str | None:
    """One line on the run the validation split prefers at the last epoch, and whether the split tells it
    from the next one: sample by sample when both runs in ``out`` saved their predictions on the same split
    (a two-sided sign test on the samples they disagree on, at ``TOLD_APART_P``), else the yardstick of
    ``validation_lead``; with a warning where a SAT run read pair-like noise (``PAIR_LIKE_CONCENTRATION``).
    When ``seed`` is one of several ``axes``, settings over seeds (``settings_verdict``).  None with fewer
    than two runs scored on a split."""
    if "seed" in axes and len(axes) > 1:
        line = settings_verdict(rows, out, [a for a in axes if a != "seed"])
        if line is not None:
            return line
    lead = validation_lead(rows)
    if lead is None:
        return None
    best, second, two_se = lead
    p = best["selection_val_acc_last"]
    line = (f"on your validation labels at the last epoch: {best['run']} {100 * p:.2f}%, "
            f"next {second['run']} {100 * second['selection_val_acc_last']:.2f}%")
    return line + _told_apart(best, second, two_se, out) + _pair_like(best, second)


def settings_verdict(rows: list[dict], out: Path | None, axes: list[str]) -> str | None:
    """The two settings (values of ``axes``) with the highest mean validation accuracy over their seeds,
    and the sign test on the disagreements pooled over the seeds both ran (``paired_runs`` per seed); None
    with fewer than two settings scored."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("selection_val_acc_last") is not None:
            groups.setdefault("-".join(f"{a}={r.get(a)}" for a in axes), []).append(r)
    if len(groups) < 2:
        return None
    mean = {name: statistics.mean(r["selection_val_acc_last"] for r in runs) for name, runs in groups.items()}
    best, second = sorted(groups, key=mean.get, reverse=True)[:2]
    line = (f"on your validation labels at the last epoch, mean over seeds: {best} {100 * mean[best]:.2f}% "
            f"({len(groups[best])} runs), next {second} {100 * mean[second]:.2f}% ({len(groups[second])} runs)")
    by_seed = {r.get("seed"): r for r in groups[second]}
    pooled = [paired_runs(Path(out), r, by_seed[r.get("seed")]) if out is not None and r.get("seed") in by_seed
              else None for r in groups[best]]
    pooled = [p for p in pooled if p is not None]
    if pooled:
        wins, losses = sum(p[0] for p in pooled), sum(p[1] for p in pooled)
        p_value = sign_test_p(wins, losses, "two-sided")
        line += (f": over the {len(pooled)} seeds both ran, of the {wins + losses} validation samples only one of "
                 f"them gets right, the first gets {wins}, the next {losses} (two-sided sign test p = {p_value:.2g}),"
                 " so these splits " + ("tell them apart" if p_value < TOLD_APART_P else "do not tell them apart"))
    return line + _pair_like(*groups[best], *groups[second])


def _told_apart(best: dict, second: dict, two_se: float | None, out: Path | None) -> str:
    paired = paired_runs(Path(out), best, second) if out is not None else None
    if paired is not None:
        wins, losses = paired
        p_value = sign_test_p(wins, losses, "two-sided")
        return (f": of the {wins + losses} samples only one of them gets right, the first gets {wins}, the "
                f"next {losses} (two-sided sign test p = {p_value:.2g}), so this split "
                + ("tells them apart" if p_value < TOLD_APART_P else "does not tell them apart"))
    n, gap = best.get("selection_val_size"), best["selection_val_acc_last"] - second["selection_val_acc_last"]
    if two_se is None:
        return ""
    if gap < two_se:
        return (f": {100 * gap:.2f} points apart, under twice the sampling error of {n} samples "
                f"({100 * two_se:.2f}), so this split does not tell them apart")
    return f": ahead by {100 * gap:.2f} points, over twice the sampling error of {n} samples ({100 * two_se:.2f})"


def _pair_like(*rows: dict) -> str:
    """A warning when a SAT run read its training disagreements as pair-like: noisy labels then reward
    the model that learned the flips (on CIFAR-10 one pair was told apart the wrong way, §12k)."""
    seen = [r["start_concentration"] for r in rows if r.get("start_concentration") is not None]
    if not seen or max(seen) < PAIR_LIKE_CONCENTRATION:
        return ""
    return (f". But the training passes' disagreements with your labels concentrate on a few classes each "
            f"(concentration {max(seen):.2f}, {PAIR_LIKE_CONCENTRATION} or more), as under pair-like noise, where "
            "your labels reward a model that learned the flips: a lead on them may be one on clean labels "
            "or the reverse")
