"""Training losses, one module each, and the registry the config refers to by ``loss.name``."""
from __future__ import annotations

import torch

from ..schedules import rescale_for_width

from .base import IndexedLoss
from .bootstrap import SoftBootstrapLoss
from .ce import CrossEntropyLoss
from .elr import EarlyLearningRegularizationLoss
from .gambler import DeepGamblersLoss
from .gce import GeneralizedCrossEntropyLoss
from .sat import SelfAdaptiveLoss
from .sat_selective import SelectiveSATLoss
from .sce import SymmetricCrossEntropyLoss
from .selectivenet import SelectiveNetLoss
from .trades import TradesLoss

LOSS_NAMES = ("ce", "gce", "sce", "bootstrap", "elr", "sat", "sat_selective", "gambler", "selectivenet")
#: loss.bank_dtype -> the storage dtype of a target bank
BANK_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: losses whose network has one extra output, the abstain class
ABSTAIN_LOSSES = ("sat_selective", "gambler")


def _pick(value, default):
    return default if value is None else value


def build_loss(cfg, labels: torch.Tensor, num_classes: int, width: int = 0) -> IndexedLoss:
    """The loss named by ``cfg.name`` (a ``LossConfig``); a field left at None takes the method's default.

    labels: (N,) given training labels, indexed by dataset index.  width: the model's base width,
    used when ``cfg.reference_width`` asks SAT's schedule to be rescaled (``rescale_for_width``).
    """
    bank_dtype = BANK_DTYPES[cfg.bank_dtype]
    name = cfg.name
    if name == "ce":
        return CrossEntropyLoss()
    if name == "gce":
        return GeneralizedCrossEntropyLoss(q=_pick(cfg.q, 0.7))
    if name == "sce":
        return SymmetricCrossEntropyLoss(alpha=_pick(cfg.alpha, 0.1), beta=_pick(cfg.beta, 1.0))
    if name == "bootstrap":
        return SoftBootstrapLoss(beta=_pick(cfg.beta, 0.95))
    if name == "elr":
        return EarlyLearningRegularizationLoss(len(labels), num_classes, lam=_pick(cfg.lam, 3.0),
                                               momentum=_pick(cfg.momentum, 0.7), bank_dtype=bank_dtype)
    if name == "sat":
        momentum, start_epoch = _pick(cfg.momentum, 0.9), _pick(cfg.start_epoch, 60)
        if cfg.reference_width:
            momentum, start_epoch = rescale_for_width(momentum, start_epoch, width, cfg.reference_width)
        return SelfAdaptiveLoss(labels, num_classes, momentum=momentum, start_epoch=start_epoch,
                                variant=cfg.variant, bank_dtype=bank_dtype)
    if name == "sat_selective":
        return SelectiveSATLoss(labels, num_classes, momentum=_pick(cfg.momentum, 0.9),
                                start_epoch=_pick(cfg.start_epoch, 0), bank_dtype=bank_dtype)
    if name == "selectivenet":
        return SelectiveNetLoss(num_classes, coverage=_pick(cfg.coverage, 0.8), lam=_pick(cfg.lam, 32.0),
                                alpha=_pick(cfg.alpha, 0.5))
    if name == "gambler":
        return DeepGamblersLoss(num_classes, reward=_pick(cfg.reward, 2.2), start_epoch=_pick(cfg.start_epoch, 0))
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")


__all__ = ["IndexedLoss", "CrossEntropyLoss", "GeneralizedCrossEntropyLoss", "SymmetricCrossEntropyLoss",
           "SoftBootstrapLoss", "EarlyLearningRegularizationLoss", "SelfAdaptiveLoss", "SelectiveSATLoss",
           "DeepGamblersLoss", "SelectiveNetLoss", "TradesLoss", "build_loss", "LOSS_NAMES", "ABSTAIN_LOSSES", "num_outputs"]


def num_outputs(loss_name: str, num_classes: int) -> int:
    """Width of the network's last layer: K, K + 1 for the abstaining losses, 2K + 1 for SelectiveNet
    (prediction, selection and auxiliary heads)."""
    if loss_name == "selectivenet":
        return 2 * num_classes + 1
    return num_classes + 1 if loss_name in ABSTAIN_LOSSES else num_classes
