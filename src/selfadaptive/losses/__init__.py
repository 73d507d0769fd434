"""Training losses, one module each, and the table (``registry``) that ``loss.name`` refers to.

Importing this package registers the built-in losses; see ``registry`` for adding one.
"""
from __future__ import annotations

from .base import BankLoss, IndexedLoss, local_mean, local_rows
from .bootstrap import SoftBootstrapLoss
from .byol import BYOLLoss
from .ce import CrossEntropyLoss
from .elr import EarlyLearningRegularizationLoss
from .gambler import DeepGamblersLoss
from .gce import GeneralizedCrossEntropyLoss
from .registry import BANK_DTYPES, BuildContext, LossSpec, build_loss, loss_names, loss_spec, register_loss
from .sat import SelfAdaptiveLoss
from .sat_selective import SelectiveSATLoss
from .sat_ssl import SelfAdaptiveSSLLoss
from .sce import SymmetricCrossEntropyLoss
from .selectivenet import SelectiveNetLoss
from .simsiam import SimSiamLoss
from .trades import TradesLoss

__all__ = ["IndexedLoss", "BankLoss", "CrossEntropyLoss", "GeneralizedCrossEntropyLoss", "SymmetricCrossEntropyLoss",
           "SoftBootstrapLoss", "EarlyLearningRegularizationLoss", "SelfAdaptiveLoss", "SelectiveSATLoss",
           "DeepGamblersLoss", "SelectiveNetLoss", "TradesLoss", "SelfAdaptiveSSLLoss", "BYOLLoss", "SimSiamLoss",
           "build_loss", "register_loss", "loss_names", "loss_spec", "LossSpec", "BuildContext", "BANK_DTYPES",
           "local_mean", "local_rows"]
