"""``SATClassifier``: Self-Adaptive Training as a scikit-learn estimator.

One ``fit`` trains the network with SAT and leaves, besides the classifier, the per-sample soft
targets (``soft_targets_``) and the ranked likely-mislabeled samples (``label_issues_``) of the
training data: the detection needs no cross-validation.  Tabular ``X`` (n_samples, n_features)
trains an MLP behind a normalisation layer; pass ``module=`` (an ``nn.Module`` or a factory
``(n_features_or_shape, n_classes) -> nn.Module``) for images (N, C, H, W) or anything else.

``fit_network`` is the in-memory training loop under the estimator (no run folder, no
checkpoints); ``sat train`` is the loop with a run folder.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .config import LossConfig, ModelConfig, OptimConfig
from .data import batches, input_stats, to_float
from .engine.evaluation import logits_of
from .engine.optimizers import build_optimizer
from .engine.schedules import epoch_order, learning_rate
from .issues import LabelIssueTracker
from .losses import build_loss, loss_names
from .models import build_model

try:    # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:     # pragma: no cover - older scikit-learn
    def _validate_data(est, X="no_validation", y="no_validation", reset=True, **kw):
        return est._validate_data(X, y, reset=reset, **kw)


def fit_network(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, *, epochs: int, lr: float,
                optimizer: str = "adam", weight_decay: float = 0.0, batch_size: int = 64, seed: int = 0,
                augment: Callable | None = None, tracker: LabelIssueTracker | None = None,
                on_epoch_end: Callable[[int, nn.Module], None] | None = None) -> list[dict]:
    """Train ``model`` in place on ``x`` (N, ...) and labels ``y`` (N,), cosine schedule per epoch.

    ``loss_fn`` is an ``IndexedLoss`` (``loss(logits, y, index, epoch)``); inputs stay on the
    device of ``model``.  ``on_epoch_end(epoch, model)`` runs after every epoch (for snapshots).
    Returns one dict per epoch (train loss and accuracy).
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    opt = build_optimizer(OptimConfig(name=optimizer, lr=lr, momentum=0.9, weight_decay=weight_decay), model)
    history = []
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = learning_rate(epoch, lr, epochs, "cosine")
        model.train()
        order = epoch_order(len(y), seed, epoch)
        loss_sum, correct = 0.0, 0
        for idx in batches(len(y), batch_size, order):
            idx = idx.to(device)
            xb = to_float(x[idx])
            if augment is not None:
                xb = augment(xb)
            logits = model(xb)
            loss = loss_fn(logits, y[idx], idx, epoch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.detach().argmax(1) == y[idx]).sum())
        if tracker is not None and loss_fn.bank() is not None:
            tracker.update(loss_fn.bank(), epoch)
        history.append({"epoch": epoch, "train_loss": loss_sum / len(y), "train_acc": correct / len(y)})
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return history


def predict_proba_network(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Eval-mode softmax probabilities (N, K) as float64 numpy; restores train/eval mode."""
    logits = logits_of(model, x, next(model.parameters()).device, batch_size)
    return torch.softmax(logits, dim=1).cpu().double().numpy()


class SATClassifier(ClassifierMixin, BaseEstimator):
    """A neural classifier trained with Self-Adaptive Training; finds its own label issues.

    Parameters
    ----------
    module : nn.Module, callable or None
        None: an MLP (``hidden_width`` x ``depth``, ReLU) behind a normalisation layer fitted on
        X.  An ``nn.Module`` is deep-copied at every ``fit`` (so refits start from the same
        weights); a callable is called as ``module(input_shape, n_classes)``.  Either way the
        network maps a float batch (B, ...) to (B, n_classes) logits; uint8 inputs are scaled to
        [0, 1] first.
    loss : any loss registered for task "classify" (``losses.loss_names("classify")``): "sat",
        "ce", "elr", "gce", "sce", "bootstrap", or one of your own.
        ``ce`` is plain ERM (no soft targets, no label issues).
    max_epochs, start_epoch : SAT trains for ``max_epochs``; its targets start moving at
        ``start_epoch`` (E_s), an int or ``"auto"`` (chosen during training from the prediction
        changes; ``start_epoch_chosen_`` says when, None if never: then the labels are ranked from
        the training passes).  E_s must come before the network starts fitting the wrong labels;
        how the defaults (50, "auto", SGD lr 0.01) were chosen, with the measurements:
        docs/benchmarks.md §5c (``auto`` starts at epoch 4-6 on those tables, as good as the best
        fixed E_s = 5 with SGD and better with Adam).
    momentum : SAT's EMA momentum alpha.
    variant : SAT's per-sample loss: "sce" (the default: the paper's SCE form, 2.2 points above the CE
        form on average over 25 regime-map cells, 2.8-11.8 under asymmetric noise, 0.4-1.7 below it in
        5 of 6 CIFAR-10 cells with a weak CNN; docs/benchmarks.md §12g-h) or "ce" (the paper's main form, used for §5c's tables).
    auto_min_concentration : under ``start_epoch="auto"``, the memorisation gate's threshold (None: the
        loss's default, 1.3; 0: off): under it the disagreements look like uniform noise and SAT waits
        until the network begins to memorise (docs/benchmarks.md §12i).
    optimizer, lr, weight_decay, batch_size : Adam or SGD(0.9), cosine schedule per epoch.
    augment : callable applied to each float training batch, e.g. ``selfadaptive.data.augment.crop_flip``.
    random_state : int, RandomState or None (seeds initialisation and data order).
    device : "cpu", "cuda", ...

    Attributes
    ----------
    classes_ : (K,) the class labels.
    module_ : the trained network.
    soft_targets_ : (n_samples, K) float32, columns in ``classes_`` order (None for ``ce``).
    label_issues_ : ``LabelIssues``, every training sample ranked by suspicion; its label ids index
        ``classes_``.  None for ``ce``.
    history_ : list of per-epoch dicts (train loss, train accuracy).
    """

    def __init__(self, module=None, loss: str = "sat", max_epochs: int = 50, start_epoch: int | str = "auto",
                 momentum: float = 0.9, variant: str = "sce", hidden_width: int = 256, depth: int = 2, optimizer: str = "sgd",
                 lr: float = 0.01, weight_decay: float = 0.0, batch_size: int = 64, augment=None,
                 random_state=None, device: str = "cpu", auto_min_concentration: float | None = None):
        self.module = module
        self.loss = loss
        self.max_epochs = max_epochs
        self.start_epoch = start_epoch
        self.momentum = momentum
        self.variant = variant
        self.hidden_width = hidden_width
        self.depth = depth
        self.auto_min_concentration = auto_min_concentration
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.augment = augment
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = self.module is not None
        return tags

    def _validate(self, X, y="no_validation", reset: bool = True):
        kw = dict(allow_nd=self.module is not None, dtype=None if self.module is not None else np.float32)
        return _validate_data(self, X, y, reset=reset, **kw)

    @staticmethod
    def _tensor(X) -> torch.Tensor:
        arr = np.asarray(X)
        if arr.dtype == np.uint8:
            return torch.tensor(arr)
        return torch.tensor(arr, dtype=torch.float32)   # a copy: read-only inputs stay untouched

    def fit(self, X, y):
        """Train on X (n_samples, n_features) or (n_samples, ...) with ``module``; y (n_samples,)."""
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if self.loss not in loss_names("classify"):
            raise ValueError(f"loss must be one of {', '.join(loss_names('classify'))}; got {self.loss!r}")
        if not (isinstance(self.max_epochs, (int, np.integer)) and self.max_epochs >= 1):
            raise ValueError(f"max_epochs must be a positive int, got {self.max_epochs!r}")
        k = len(self.classes_)
        self.start_epoch_ = "auto" if self.start_epoch == "auto" else int(self.start_epoch)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        x_t, y_t = self._tensor(X), torch.as_tensor(y_enc, dtype=torch.long)
        self.soft_targets_, self.label_issues_, self.history_, self.start_epoch_chosen_ = None, None, [], None
        if k == 1:      # nothing to learn: predict the only class
            self.module_ = None
            return self
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):      # seeding must not touch the caller's RNG
            torch.manual_seed(seed)
            self.module_ = self._make_module(x_t, k).to(device)
            cfg = LossConfig(name=self.loss, momentum=self.momentum, start_epoch=self.start_epoch_, variant=self.variant,
                             auto_min_concentration=self.auto_min_concentration)
            loss_fn = build_loss(cfg, y_t, k).to(device)
            # the ranking `sat issues` gives, also when SAT never started (the training passes' record)
            tracker = LabelIssueTracker.attach(loss_fn, y_t) if loss_fn.bank() is not None else None
            self.history_ = fit_network(self.module_, x_t, y_t, loss_fn, epochs=int(self.max_epochs), lr=self.lr,
                                        optimizer=self.optimizer, weight_decay=self.weight_decay,
                                        batch_size=int(self.batch_size), seed=seed, augment=self.augment)
        if tracker is not None:
            self.soft_targets_ = loss_fn.bank().float().cpu().numpy()
            self.label_issues_ = tracker.label_issues(class_names=tuple(str(c) for c in self.classes_))
            self.start_epoch_chosen_ = getattr(loss_fn, "start_epoch_chosen", None)
        return self

    def _make_module(self, x: torch.Tensor, k: int) -> nn.Module:
        shape = tuple(x.shape[1:])
        if self.module is None:
            mean, std = input_stats(x)
            return build_model(ModelConfig(name="mlp", base_width=self.hidden_width, depth=self.depth), k, shape,
                               mean, std)
        if isinstance(self.module, nn.Module):
            return copy.deepcopy(self.module)
        if callable(self.module):
            return self.module(shape, k)
        raise TypeError(f"module must be None, an nn.Module or a callable; got {type(self.module).__name__}")

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, K) class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "classes_")
        X = self._validate(X, reset=False)
        if self.module_ is None:
            return np.ones((len(X), 1))
        return predict_proba_network(self.module_, self._tensor(X))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def find_label_issues(self, X, y):
        """Fit on (X, y) and return cleanlab's ``CleanLearning.find_label_issues`` table for it: one row
        per sample with ``is_label_issue``, ``label_quality`` (lower is worse), ``given_label`` and
        ``predicted_label`` in the values of ``y`` (a pandas DataFrame)."""
        self.fit(X, y)
        if self.label_issues_ is None:
            raise AttributeError("loss='ce' keeps no soft targets, so it finds no label issues")
        return self.label_issues_.to_cleanlab(labels=self.classes_)

    @property
    def noisy_label_mask_(self) -> np.ndarray:
        """(n_samples,) bool: training samples whose soft target points away from the given label."""
        check_is_fitted(self, "label_issues_")
        if self.label_issues_ is None:
            raise AttributeError("loss='ce' keeps no soft targets, so it finds no label issues")
        return self.label_issues_.in_index_order("suggested_label") != self.label_issues_.in_index_order("given_label")
