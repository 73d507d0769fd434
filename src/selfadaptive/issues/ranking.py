"""Likely mislabeled training samples, ranked from a run's soft targets.

SAT's bank T (N, K) is a running average of the model's own predictions on every training
sample, gathered during the training passes it does anyway.  Where T has moved away from the
given label y_i, the model has consistently disagreed with that label, so

* the *suggested label* is ``argmax_j T_ij``;
* the *suspicion score* ranks samples by how far T_i has moved off y_i.

Three scores are offered: ``given_mass`` (``1 - T_iy``, the mass the bank has moved off the
given label), ``margin`` (``max_{j != y} T_ij - T_iy``) and the default ``mean_given_mass``
(``1 - T_iy`` averaged over the end of every epoch since the bank started moving, kept by
``tracker.LabelIssueTracker``).  Why that default, with the measurements: docs/benchmarks.md §5.

Pure functions of arrays live here; the tracker is the small stateful wrapper the trainer
updates once per epoch, and ``metrics`` scores a ranking against known true labels.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SCORES = ("mean_given_mass", "given_mass", "margin")
DEFAULT_SCORE = "mean_given_mass"


def given_mass(soft_targets: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``T_iy``: the soft-target mass on the given label.  (N, K), (N,) -> (N,) float32."""
    return soft_targets.float().gather(1, labels.long().view(-1, 1)).squeeze(1)


def label_margin(soft_targets: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``T_iy - max_{j != y} T_ij``; negative when another class outweighs the given label.

    (N, K), (N,) -> (N,) float32 in [-1, 1].
    """
    t = soft_targets.float()
    mass = given_mass(t, labels)
    others = t.scatter(1, labels.long().view(-1, 1), float("-inf")).max(dim=1).values
    return mass - others


def debiased_targets(soft_targets: torch.Tensor, labels: torch.Tensor, prior_weight: float) -> torch.Tensor:
    """The bank with its one-hot starting point removed: ``(T - w * onehot(y)) / (1 - w)``.

    After m EMA updates SAT's row is ``T = a^m onehot(y) + (1 - a^m) P`` with P the averaged
    predictions, so ``w = a^m`` recovers P exactly (as Adam's bias correction does for its moments).
    Early in training the one-hot part still dominates ``argmax T`` although the predictions
    already disagree with y; P does not have that lag, so suggestions and flags come from P.
    The correction is affine with the same w for every sample, so it leaves all rankings alone.
    (N, K), (N,) -> (N, K) float32.
    """
    t = soft_targets.float()
    if prior_weight <= 0.0:
        return t
    if prior_weight >= 1.0:
        return t        # the bank never moved: nothing to recover
    onehot = torch.zeros_like(t).scatter_(1, labels.long().view(-1, 1), 1.0)
    return ((t - prior_weight * onehot) / (1.0 - prior_weight)).clamp_min(0.0)


def issue_scores(soft_targets: torch.Tensor, labels: torch.Tensor, score: str = "given_mass",
                 mean_given_mass: torch.Tensor | None = None) -> torch.Tensor:
    """Suspicion score per sample (higher = more likely mislabeled).  (N, K), (N,) -> (N,).

    ``score="mean_given_mass"`` needs ``mean_given_mass`` (N,), the epoch-averaged ``T_iy``
    kept by ``LabelIssueTracker``.
    """
    if score == "given_mass":
        return 1.0 - given_mass(soft_targets, labels)
    if score == "margin":
        return -label_margin(soft_targets, labels)
    if score == "mean_given_mass":
        if mean_given_mass is None:
            raise ValueError("score 'mean_given_mass' needs the per-epoch history (mean_given_mass=...)")
        return 1.0 - mean_given_mass.float()
    raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORES)}")


def prior_weight(momentum, epochs_tracked) -> float:
    """``a^m`` for a bank that started at onehot(y); 0 when ``momentum`` is NaN (no one-hot start)."""
    a = float(momentum)
    return 0.0 if a != a else a ** int(epochs_tracked)


COLUMNS = ("rank", "index", "source_index", "given_label", "suggested_label", "score", "given_mass",
           "suggested_mass", "margin", "first_flagged_epoch", "flagged")


@dataclass(frozen=True)
class LabelIssues:
    """Every training sample, most suspicious first.  All arrays are (N,), in rank order.

    index: the dataset index (the row of the bank); source_index: the row in the file the
    sample came from; given_label / suggested_label: class ids (or ``class_names`` entries when
    written); score: the suspicion score named by ``score_name``; given_mass: ``T_iy``;
    suggested_mass: the debiased bank's mass on the suggestion (its confidence); margin:
    ``T_iy - max_{j != y} T_ij``; first_flagged_epoch: -1 when never flagged (or unknown);
    flagged: ``suggested_label != given_label``.
    """

    index: np.ndarray
    source_index: np.ndarray
    given_label: np.ndarray
    suggested_label: np.ndarray
    score: np.ndarray
    given_mass: np.ndarray
    suggested_mass: np.ndarray
    margin: np.ndarray
    first_flagged_epoch: np.ndarray
    score_name: str = DEFAULT_SCORE
    class_names: tuple = field(default=())
    path: np.ndarray | None = None      # (N,) where each sample lives: image path in its folder, CSV file:line

    def __len__(self) -> int:
        return self.index.shape[0]

    @property
    def flagged(self) -> np.ndarray:
        return self.suggested_label != self.given_label

    def in_index_order(self, column: str) -> np.ndarray:
        """A column as an (N,) array indexed by dataset index (undoing the ranking)."""
        out = np.empty_like(getattr(self, column))
        out[self.index] = getattr(self, column)
        return out

    def _name(self, c: int) -> str:
        return self.class_names[c] if self.class_names else str(int(c))

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV columns: ``COLUMNS``, with ``path`` after ``source_index`` when the source has paths."""
        if self.path is None:
            return COLUMNS
        i = COLUMNS.index("source_index") + 1
        return COLUMNS[:i] + ("path",) + COLUMNS[i:]

    def rows(self, limit: int | None = None):
        """Dict rows in rank order (``limit`` first ones)."""
        n = len(self) if limit is None else min(limit, len(self))
        for r in range(n):
            where = {} if self.path is None else {"path": str(self.path[r])}
            yield {"rank": r + 1, "index": int(self.index[r]), "source_index": int(self.source_index[r]), **where,
                   "given_label": self._name(self.given_label[r]),
                   "suggested_label": self._name(self.suggested_label[r]),
                   "score": float(self.score[r]), "given_mass": float(self.given_mass[r]),
                   "suggested_mass": float(self.suggested_mass[r]), "margin": float(self.margin[r]),
                   "first_flagged_epoch": int(self.first_flagged_epoch[r]), "flagged": int(self.flagged[r])}

    def to_csv(self, path: str | Path) -> None:
        write_rows_csv(path, self.columns, self.rows())

    def to_pandas(self):
        """The ranked table as a DataFrame (needs pandas: ``pip install "selfadaptive[frames]"``)."""
        return _pandas().DataFrame(list(self.rows()))

    def to_cleanlab(self, labels=None):
        """cleanlab's ``CleanLearning.find_label_issues`` table: one row per sample in dataset order,
        with ``is_label_issue``, ``label_quality`` (in [0, 1]; lower is worse, cleanlab's convention:
        ``1 - score`` for the mass-based scores), ``given_label`` and ``predicted_label``.  ``labels``
        maps class ids to your label values (default: the class names, or the ids)."""
        names = labels if labels is not None else (self.class_names or None)
        lookup = (lambda ids: np.asarray(names, dtype=object)[ids]) if names is not None else (lambda ids: ids)
        quality = 1.0 - self.in_index_order("score")
        if self.score_name == "margin":         # margin scores lie in [-1, 1]
            quality = (1.0 - self.in_index_order("score")) / 2.0
        return _pandas().DataFrame({
            "is_label_issue": self.in_index_order("suggested_label") != self.in_index_order("given_label"),
            "label_quality": np.clip(quality, 0.0, 1.0),
            "given_label": lookup(self.in_index_order("given_label")),
            "predicted_label": lookup(self.in_index_order("suggested_label"))})


def write_rows_csv(path: str | Path, columns, rows) -> None:
    """Write dict ``rows`` under the header ``columns`` atomically; floats to 6 significant digits."""
    from ..engine.checkpoint import atomic_write

    def write(fh):
        import io
        text = io.StringIO()
        w = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        fh.write(text.getvalue().encode())
    atomic_write(path, write)


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError('tables of label issues need pandas: pip install "selfadaptive[frames]"') from None
    return pandas


def label_issues(soft_targets, given_labels, score: str = DEFAULT_SCORE, *, mean_given_mass=None,
                 first_flagged_epoch=None, source_index=None, class_names=(), prior_weight: float = 0.0,
                 source_paths=None) -> LabelIssues:
    """Rank every training sample by how likely its given label is wrong.

    soft_targets: (N, K) a bank of soft targets (SAT's ``soft_targets``, a run's
    ``soft_targets.npy``, or any per-sample probabilities); given_labels: (N,) int;
    mean_given_mass: (N,) epoch-averaged ``T_iy`` (``LabelIssueTracker``), needed for the default
    score and silently replaced by ``given_mass`` when absent; first_flagged_epoch: (N,) int;
    source_index: (N,) the file row of each sample (default: the dataset index); source_paths:
    the source's file path (or ``file:line``) of each source row, giving the ``path`` column.

    prior_weight: the weight ``a^m`` the initial one-hot rows still carry
    (``LabelIssueTracker.prior_weight()``); the suggested label and its mass come from the
    bank with that part removed (``debiased_targets``).

    Ties in the score are broken by the margin, then by index, so the order is deterministic.
    """
    t = torch.as_tensor(np.asarray(soft_targets), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(given_labels), dtype=torch.long)
    if t.dim() != 2 or y.dim() != 1 or t.shape[0] != y.shape[0]:
        raise ValueError(f"soft_targets must be (N, K) and given_labels (N,); got {tuple(t.shape)} and {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= t.shape[1]):
        raise ValueError(f"given_labels must lie in [0, {t.shape[1]})")
    mean = None if mean_given_mass is None else torch.as_tensor(np.asarray(mean_given_mass), dtype=torch.float32)
    if score == "mean_given_mass" and mean is None:
        score = "given_mass"
    scores = issue_scores(t, y, score, mean).numpy().astype(np.float64)
    mass = given_mass(t, y).numpy()
    margin = label_margin(t, y).numpy()
    p = debiased_targets(t, y, prior_weight)
    suggested = p.argmax(dim=1).numpy()
    n = y.shape[0]
    idx = np.arange(n)
    # lexsort: last key is primary -> score descending, then margin ascending, then index
    order = np.lexsort((idx, margin, -scores))
    first = np.full(n, -1, dtype=np.int64) if first_flagged_epoch is None else np.asarray(first_flagged_epoch)
    src = idx if source_index is None else np.asarray(source_index)
    paths = None if source_paths is None else np.asarray(source_paths)[src]
    return LabelIssues(index=idx[order], source_index=src[order], given_label=y.numpy()[order],
                       suggested_label=suggested[order], score=scores[order], given_mass=mass[order],
                       suggested_mass=p.numpy()[order, suggested[order]], margin=margin[order],
                       first_flagged_epoch=first[order], score_name=score, class_names=tuple(class_names),
                       path=None if paths is None else paths[order])
