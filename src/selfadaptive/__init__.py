"""selfadaptive: Self-Adaptive Training (Huang, Zhang & Zhang, NeurIPS 2020 / TPAMI 2022) in PyTorch.

Quick start::

    from selfadaptive import SelfAdaptiveLoss
    criterion = SelfAdaptiveLoss(train_labels, num_classes=10, momentum=0.9, start_epoch=60)
    loss = criterion(model(x), y, index, epoch)     # index: dataset indices of the batch

    # after training: which labels look wrong, and what should they be?
    issues = label_issues(criterion.soft_targets, train_labels)

    # or, for arrays, the scikit-learn estimator
    clf = SATClassifier().fit(X, y); clf.label_issues_
"""
from .config import Config, load_config
from .data.indexed import IndexedDataset
from .errors import Interrupted, TrainingDiverged, UserError
from .issues import LabelIssues, LabelIssueTracker, detection_metrics, label_issues
from .losses import (
                     CrossEntropyLoss,
                     EarlyLearningRegularizationLoss,
                     GeneralizedCrossEntropyLoss,
                     IndexedLoss,
                     SelfAdaptiveLoss,
                     SoftBootstrapLoss,
                     SymmetricCrossEntropyLoss,
                     build_loss,
)
from .noise.labels import LabelNoise, corrupt_labels
from .training.loop import train

__version__ = "0.1.0"


def __getattr__(name):
    # SATClassifier on first use: scikit-learn's import costs seconds that `sat` commands and loss-only
    # users do not need
    if name == "SATClassifier":
        from .estimator import SATClassifier
        return SATClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"SATClassifier"})

__all__ = ["SelfAdaptiveLoss", "CrossEntropyLoss", "GeneralizedCrossEntropyLoss", "SymmetricCrossEntropyLoss",
           "SoftBootstrapLoss", "EarlyLearningRegularizationLoss", "IndexedLoss", "build_loss", "Config",
           "load_config", "train", "corrupt_labels", "LabelNoise", "UserError", "TrainingDiverged", "Interrupted",
           "SATClassifier", "IndexedDataset", "label_issues", "LabelIssues", "LabelIssueTracker", "detection_metrics"]
