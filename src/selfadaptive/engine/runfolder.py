"""The run folder: everything a run produces, and all that reports and ``sat eval`` read.

::

    RUN/config.yaml       the resolved config
    RUN/metrics.jsonl     one JSON row per epoch
    RUN/noise.npz         clean_labels, noisy_labels, noisy_mask, corrupted_indices (training set)
    RUN/samples.npz       source_index (N,): each training sample's row in its source file; class_names (K,)
    RUN/soft_targets.npy  final per-sample targets (N, K) float32, for losses that keep a bank
    RUN/label_history.npz given_mass_sum, epochs_tracked, first_flagged_epoch (losses with a bank)
    RUN/label_issues.csv  written by ``sat issues RUN``
    RUN/checkpoint.pt     latest checkpoint (atomic; weights_only-loadable)
    RUN/best_model.pt     task=robust: the weights with the best validation robust accuracy
    RUN/selected_model.pt the weights of the epoch with the best accuracy on a validation split that
                          carries the data's own (noisy) labels: model selection without clean labels;
                          summary.json's ``model_to_use`` says whether it beats the last epoch's there
    RUN/validation.npz    with a validation split: its labels (those the selection read) and the classes
                          the last and the selected model predict for it, (M,) int64 each: labels,
                          pred_last, pred_selected (``sat sweep`` compares runs on them sample by sample)
    RUN/robust.json       task=robust / ``sat robust RUN``: clean, FGSM, PGD (and AutoAttack) accuracy
    RUN/summary.json      headline numbers
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .checkpoint import atomic_write


def _clean(v):
    """JSON-safe values: NaN/inf become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON at ``path``, written atomically (non-finite floats become null)."""
    text = json.dumps(_clean(data), indent=2) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode()))


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    noise = property(lambda self: self.path / "noise.npz")
    soft_targets = property(lambda self: self.path / "soft_targets.npy")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    summary = property(lambda self: self.path / "summary.json")
    samples = property(lambda self: self.path / "samples.npz")
    label_history = property(lambda self: self.path / "label_history.npz")
    label_issues = property(lambda self: self.path / "label_issues.csv")
    best_model = property(lambda self: self.path / "best_model.pt")
    selected_model = property(lambda self: self.path / "selected_model.pt")
    validation = property(lambda self: self.path / "validation.npz")
    robust = property(lambda self: self.path / "robust.json")

    def require(self) -> "RunDir":
        """Check this is an existing run folder; a UserError otherwise."""
        if not self.path.is_dir():
            raise UserError(f"run folder not found: {self.path}")
        if not self.config.is_file():
            raise UserError(f"{self.path} is not a run folder (no config.yaml)")
        return self

    def require_new(self) -> "RunDir":
        """Check that no run lives here yet (nothing on disk is overwritten); a UserError otherwise.

        A folder whose run died before its first checkpoint (a config, no checkpoint, no summary)
        is not a run: it holds nothing a resume could use, so a new run may start in it (``start``
        clears its leftovers).  A run still in its first epoch looks the same; its lock tells them
        apart (``lock``)."""
        if self.checkpoint.exists() or self.summary.exists():
            raise UserError(f"{self.path} already holds a run; resume it with --resume {self.path} "
                            f"or choose another --out")
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {self.path} is a file, not a folder")
        return self

    def is_dead_end(self) -> bool:
        """A config but no checkpoint and no summary: the run died before its first checkpoint."""
        return self.config.is_file() and not self.checkpoint.exists() and not self.summary.exists()

    def lock(self) -> None:
        """Hold this folder for this process until ``unlock`` or exit (``lock.RunLock``)."""
        from .lock import RunLock
        RunLock(self.path).acquire()

    def unlock(self) -> None:
        from .lock import RunLock
        RunLock(self.path).release()

    def start(self) -> None:
        """Create (or take over) the folder for a new run: lock it, check again that no run lives
        here, and remove what a run that died before its first checkpoint, or a write cut by a
        kill, left behind."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create run folder {self.path}: {e.strerror or e}") from None
        self.lock()
        self.require_new()
        for leftover in (self.metrics, self.selected_model, self.best_model, self.soft_targets, self.label_history,
                         self.validation):
            leftover.unlink(missing_ok=True)
        self.remove_partial_writes()

    def remove_partial_writes(self) -> None:
        """Delete temporary files of atomic writes cut short by a kill (``.NAME.*.tmp``)."""
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def append_metrics(self, row: dict) -> None:
        with open(self.metrics, "a") as fh:
            fh.write(json.dumps(_clean(row)) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics.is_file():
            return []
        rows = []
        for line in self.metrics.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break   # a line torn by a crash ends the usable log
        return rows

    def keep_metrics_before(self, epoch: int) -> None:
        """Drop rows of epochs >= ``epoch`` (written after the checkpoint a resume starts from)."""
        rows = [r for r in self.read_metrics() if r.get("epoch", -1) < epoch]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write(self.metrics, lambda fh: fh.write(text.encode()))

    def write_json(self, path: Path, data: dict) -> None:
        write_json(path, data)

    def write_summary(self, summary: dict) -> None:
        self.write_json(self.summary, summary)

    def read_summary(self) -> dict:
        return json.loads(self.summary.read_text()) if self.summary.is_file() else {}

    def write_validation(self, labels, pred_last, pred_selected) -> None:
        arrays = {k: np.asarray(v, dtype=np.int64) for k, v in
                  (("labels", labels), ("pred_last", pred_last), ("pred_selected", pred_selected))}
        atomic_write(self.validation, lambda fh: np.savez(fh, **arrays))

    def read_validation(self) -> dict | None:
        """``validation.npz`` as a dict of (M,) arrays; None when the run has none."""
        if not self.validation.is_file():
            return None
        with np.load(self.validation) as z:
            return {k: z[k] for k in z.files}

    def model_to_use(self) -> Path:
        """The weights to use: ``selected_model.pt`` where the summary's ``model_to_use`` says so (runs
        written before that verdict: wherever the file exists), else the last checkpoint."""
        choice = self.read_summary().get("model_to_use", "selected")
        return self.selected_model if choice == "selected" and self.selected_model.is_file() else self.checkpoint

    def write_soft_targets(self, bank) -> None:
        arr = bank.detach().float().cpu().numpy()
        atomic_write(self.soft_targets, lambda fh: np.save(fh, arr))

    def write_label_history(self, tracker) -> None:
        arrays = {k: v.detach().cpu().numpy() for k, v in tracker.state_dict().items()}
        atomic_write(self.label_history, lambda fh: np.savez(fh, **arrays))

    def read_label_history(self) -> dict | None:
        """The ``LabelIssueTracker`` buffers as numpy arrays, or None when the run has none."""
        if not self.label_history.is_file():
            return None
        try:
            with np.load(self.label_history, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as e:
            raise UserError(f"{self.label_history} is not readable ({type(e).__name__}); "
                            f"delete it to rank by the final soft targets only") from None

    def write_samples(self, source_index, class_names, source_paths=None) -> None:
        """samples.npz: each training sample's row in the source, the class names, and where the
        source has them, each source row's file path (image folders) or ``file:line`` (CSV)."""
        arrays = {"source_index": np.asarray(source_index, dtype=np.int64),
                  "class_names": np.asarray([str(c) for c in class_names])}
        if source_paths is not None:
            arrays["source_paths"] = np.asarray([str(p) for p in source_paths])
        atomic_write(self.samples, lambda fh: np.savez(fh, **arrays))

    def read_source_paths(self) -> list[str] | None:
        """The source's file paths (or ``file:line``) by source row, when the run's data had them."""
        if not self.samples.is_file():
            return None
        with np.load(self.samples, allow_pickle=False) as z:
            return [str(p) for p in z["source_paths"]] if "source_paths" in z.files else None

    def read_samples(self) -> tuple[np.ndarray | None, list[str]]:
        """(source_index or None, class names or []) of the run's training set."""
        if not self.samples.is_file():
            return None, []
        with np.load(self.samples, allow_pickle=False) as z:
            return z["source_index"], [str(c) for c in z["class_names"]]
