"""``task=selective``: training as for classification, every evaluation also scored by AURC."""
from __future__ import annotations

from ..engine.task import Task
from .metrics import epoch_metrics


class SelectiveTask(Task):
    """Selective classification: the loss (SAT's abstain class, Deep Gamblers, SelectiveNet or CE)
    does the work; each epoch's test/validation rows also carry the AURC of the run's abstain score."""

    eval_metrics = staticmethod(epoch_metrics)
