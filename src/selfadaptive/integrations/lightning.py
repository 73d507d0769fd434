"""A Lightning callback that ranks the labels of a SAT fit and writes ``label_issues.csv`` when it ends.

Your ``LightningModule`` keeps the loss as a submodule and passes the epoch::

    self.criterion = SelfAdaptiveLoss(train_labels, num_classes=10, start_epoch="auto", variant="sce")
    ...
    def training_step(self, batch, batch_idx):
        x, y, index = batch                     # IndexedDataset yields the index
        return self.criterion(self(x), y, index, self.current_epoch)

    trainer = L.Trainer(max_epochs=40, callbacks=[LabelIssuesCallback(train_labels)])

The callback attaches a ``LabelIssueTracker`` to that loss (forward hooks, no extra pass), so its
ranking is the one ``sat issues`` gives for the same training.  The tracker's buffers travel in
Lightning's checkpoints (``state_dict``), the bank in the module's; under DDP both are gathered
across ranks by the loss and rank 0 writes the file.  Needs ``pip install "selfadaptive[lightning]"``.
"""
from __future__ import annotations

from pathlib import Path

import torch

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:            # the standalone `pytorch_lightning` package has the same API
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError('the Lightning callback needs Lightning: pip install "selfadaptive[lightning]"') from None

from ..issues.tracker import LabelIssueTracker
from ..losses.base import IndexedLoss


class LabelIssuesCallback(Callback):
    """Rank the training labels of a fit whose module owns one per-sample loss with a bank (SAT, ELR).

    Args:
        labels: (N,) the (possibly noisy) training labels the loss was built with.
        path: where ``label_issues.csv`` goes; default ``<trainer.default_root_dir>/label_issues.csv``.
        class_names, source_paths: name the classes and samples in the table, as in ``label_issues``.

    After ``trainer.fit`` the ranked table is also ``callback.issues`` (a ``LabelIssues``).
    """

    def __init__(self, labels, path: str | Path | None = None, class_names=(), source_paths=None):
        self.labels = torch.as_tensor(labels).long()
        self.path, self.class_names, self.source_paths = path, tuple(class_names), source_paths
        self.tracker: LabelIssueTracker | None = None
        self.issues = None
        self._restored: dict | None = None

    @staticmethod
    def find_loss(pl_module) -> IndexedLoss:
        losses = [m for m in pl_module.modules() if isinstance(m, IndexedLoss) and m.bank() is not None]
        outer = [m for m in losses if not any(m is not o and m in set(o.modules()) for o in losses)]
        if len(outer) != 1:
            raise ValueError(f"LabelIssuesCallback needs exactly one per-sample loss with a bank among the module's "
                             f"submodules (e.g. self.criterion = SelfAdaptiveLoss(...)); found {len(outer)}")
        return outer[0]

    def on_fit_start(self, trainer, pl_module) -> None:
        # here, not in setup(): the module (and with it the bank) is already on its device
        if self.tracker is None:
            self.tracker = LabelIssueTracker.attach(self.find_loss(pl_module), self.labels)
        if self._restored is not None:
            self.tracker.load_state_dict({k: v.to(self.tracker.labels.device) for k, v in self._restored.items()})
            self._restored = None

    def on_fit_end(self, trainer, pl_module) -> None:
        self.issues = self.tracker.label_issues(class_names=self.class_names, source_paths=self.source_paths)
        if trainer.is_global_zero:
            path = Path(self.path) if self.path is not None else Path(trainer.default_root_dir) / "label_issues.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.issues.to_csv(path)

    def state_dict(self) -> dict:
        return {} if self.tracker is None else {k: v.detach().cpu() for k, v in self.tracker.state_dict().items()}

    def load_state_dict(self, state_dict: dict) -> None:
        # Lightning restores callbacks before on_fit_start attaches the tracker: keep it until then
        self._restored = dict(state_dict) or None
