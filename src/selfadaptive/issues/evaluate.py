"""``sat issues RUN``: the ranked label issues of a finished (or interrupted) run, read from its folder.

Reads only run-folder files: ``soft_targets.npy`` (or, for an interrupted run, the bank inside
``checkpoint.pt``), ``noise.npz`` (given and, when known, true labels), ``label_history.npz``
and ``samples.npz``.  Writes ``label_issues.csv`` (and ``label_issues.json``, ``label_issues.png``).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import load_config
from ..engine.checkpoint import atomic_write, load_checkpoint
from ..engine.runfolder import RunDir
from ..errors import UserError
from ..noise.labels import LabelNoise
from .metrics import detection_metrics, flagged_set_metrics
from .ranking import DEFAULT_SCORE, LabelIssues
from .tracker import pred_probs_from_history, rank_from_history


@dataclass
class RunIssues:
    issues: LabelIssues
    noisy_mask: np.ndarray | None      # (N,) truth in index order, when the run knows it
    clean_labels: np.ndarray | None    # (N,) in index order
    metrics: dict                      # detection metrics (empty without truth)
    from_predictions: bool = False     # the bank never moved: ranked from the training passes instead
    pred_probs: np.ndarray | None = None   # (N, K) in index order, for cleanlab (``pred_probs_from_history``)


def _bank_and_history(run: RunDir, loss_name: str) -> tuple[np.ndarray, dict | None]:
    if run.soft_targets.is_file():
        try:
            bank = np.load(run.soft_targets, allow_pickle=False)
        except Exception as e:
            raise UserError(f"{run.soft_targets} is not readable ({type(e).__name__})") from None
        return bank, run.read_label_history()
    if run.checkpoint.is_file():    # interrupted before the summary: the checkpoint holds both
        state = load_checkpoint(run.checkpoint)
        bank = state.get("loss", {}).get("soft_targets")
        if bank is not None:
            tracker = state.get("tracker") or None
            history = {k: v.numpy() for k, v in tracker.items()} if tracker else None
            return bank.float().numpy(), history
    raise UserError(f"{run.path} has no soft targets: label issues need a run with loss.name=sat (or elr); "
                    f"this one used loss.name={loss_name}")


def issues_from_run(path: str | Path, score: str = DEFAULT_SCORE) -> RunIssues:
    """Rank the training samples of run folder ``path``; see ``selfadaptive.label_issues``."""
    run = RunDir(path).require()
    cfg = load_config(run.config)
    bank, history = _bank_and_history(run, cfg.loss.name)
    noise = LabelNoise.load(run.noise)
    given = noise.noisy_labels
    if bank.ndim != 2 or bank.shape[0] != given.shape[0]:
        raise UserError(f"{run.soft_targets} has shape {bank.shape}, but {run.noise} holds {given.shape[0]} labels")
    source_index, class_names = run.read_samples()
    issues, from_predictions = rank_from_history(bank, given, history, score, source_index=source_index,
                                                 class_names=class_names, source_paths=run.read_source_paths())
    truth = noise.noisy_mask if noise.noisy_mask.any() else None
    metrics = {}
    if truth is not None:
        scores = issues.in_index_order("score")
        metrics = {**detection_metrics(scores, truth), "flagged": flagged_set_metrics(
            issues.in_index_order("suggested_label") != given, truth)}
        metrics["num_noisy"] = int(truth.sum())
    return RunIssues(issues=issues, noisy_mask=truth, clean_labels=noise.clean_labels if truth is not None else None,
                     metrics=metrics, from_predictions=from_predictions,
                     pred_probs=pred_probs_from_history(bank, given, history))


#: export thresholds: on the debiased bank's mass (docs/benchmarks.md §5b), and on one training pass's
#: probability when the bank never moved (§14: 0.4 left the fewest wrong labels on 10k CIFAR-10 images)
EXPORT_THRESHOLD, EXPORT_THRESHOLD_FROM_PREDICTIONS = 0.2, 0.4


def export_labels(found: RunIssues, path: str | Path, threshold: float | None = None, force: bool = False) -> dict:
    """Write corrected training labels for ``sat train data.labels=PATH``.

    A sample's label is replaced by the suggestion when it is flagged and the suggestion's
    (debiased) soft-target mass is at least ``threshold``; every training row is written, so the
    file alone defines the retraining labels.  Columns: source_index, label, given_label,
    changed, confidence.  Higher thresholds trade recall for precision; the default is 0.2 on a
    SAT bank (docs/benchmarks.md §5b) and 0.4 when the ranking came from the training passes
    because SAT never started (§14).  Returns counts (and, when the truth is known, how many
    changes fix a wrong label).
    """
    if threshold is None:
        threshold = EXPORT_THRESHOLD_FROM_PREDICTIONS if found.from_predictions else EXPORT_THRESHOLD
    path = Path(path)
    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"--threshold must be in [0, 1], got {threshold}")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; choose another path or pass --force to replace it")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist")
    li = found.issues
    given, suggested = li.in_index_order("given_label"), li.in_index_order("suggested_label")
    confidence, source = li.in_index_order("suggested_mass"), li.in_index_order("source_index")
    change = (suggested != given) & (confidence >= threshold)
    new = np.where(change, suggested, given)
    name = (lambda c: li.class_names[c]) if li.class_names else (lambda c: str(int(c)))
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["source_index", "label", "given_label", "changed", "confidence"])
    for i in range(len(new)):
        w.writerow([int(source[i]), name(new[i]), name(given[i]), int(change[i]), f"{confidence[i]:.4f}"])
    atomic_write(path, lambda fh: fh.write(text.getvalue().encode()))
    out = {"num_changed": int(change.sum()), "num_samples": int(len(new)), "threshold": threshold}
    if found.clean_labels is not None:
        clean = found.clean_labels
        out.update(changes_correct=int((new[change] == clean[change]).sum()),
                   wrong_before=int((given != clean).sum()), wrong_after=int((new != clean).sum()))
    return out


def plot_issues(found: RunIssues, path: str | Path) -> None:
    """Score histograms (clean vs mislabeled when the truth is known) and the precision-recall curve."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'selfadaptive[plot]'") from None
    from sklearn.metrics import precision_recall_curve

    scores = found.issues.in_index_order("score")
    truth = found.noisy_mask
    fig, axes = plt.subplots(1, 2 if truth is not None else 1, figsize=(10 if truth is not None else 5, 4),
                             squeeze=False)
    ax = axes[0, 0]
    bins = np.linspace(scores.min(), scores.max() + 1e-9, 41)
    if truth is not None:
        ax.hist(scores[~truth], bins=bins, alpha=0.6, label=f"clean ({int((~truth).sum())})")
        ax.hist(scores[truth], bins=bins, alpha=0.6, label=f"mislabeled ({int(truth.sum())})")
        ax.legend()
    else:
        ax.hist(scores, bins=bins)
    ax.set_xlabel(f"suspicion score ({found.issues.score_name})")
    ax.set_ylabel("training samples")
    ax.set_yscale("log")
    if truth is not None:
        precision, recall, _ = precision_recall_curve(truth, scores)
        ax = axes[0, 1]
        ax.plot(recall, precision)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"AUROC {found.metrics['auroc']:.3f}, AP {found.metrics['ap']:.3f}")
        ax.set_ylim(0, 1.02)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)


def write_report(run: RunDir, found: RunIssues) -> None:
    found.issues.to_csv(run.label_issues)
    li = found.issues
    report = {"score": li.score_name, "num_samples": len(li), "num_flagged": int(li.flagged.sum()), **found.metrics}
    run.write_json(run.path / "label_issues.json", report)


__all__ = ["issues_from_run", "export_labels", "plot_issues", "write_report", "RunIssues"]
