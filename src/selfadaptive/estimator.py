"""``SATClassifier``: Self-Adaptive Training as a scikit-learn estimator.

One ``fit`` trains the network with SAT and leaves, besides the classifier, the per-sample soft
targets (``soft_targets_``) and the ranked likely-mislabeled samples (``label_issues_``) of the
training data: the detection needs no cross-validation.  Tabular ``X`` (n_samples, n_features)
trains an MLP behind a normalisation layer; pass ``module=`` (an ``nn.Module`` or a factory
``(n_features_or_shape, n_classes) -> nn.Module``) for images (N, C, H, W) or anything else.

``training.in_memory.fit_network`` is the in-memory training loop under the estimator (no run folder, no
checkpoints); ``sat train`` is the loop with a run folder.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .config import LossConfig, ModelConfig
from .data import input_stats
from .engine.selection import paired_lead
from .issues import LabelIssueTracker, label_issues
from .losses import build_loss, loss_names
from .losses.warm_up import WarmUp
from .models import build_model
from .training.in_memory import fit_network, predict_proba_network  # noqa: F401 (re-exported)

try:    # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:     # pragma: no cover - older scikit-learn
    def _validate_data(est, X="no_validation", y="no_validation", reset=True, **kw):
        return est._validate_data(X, y, reset=reset, **kw)


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
    validation_fraction : None (the default: train on every sample), or a share in (0, 1) of the samples to
        hold out, stratified, with their given (possibly wrong) labels: model selection without clean labels.
        Every epoch is scored on them (``validation_scores_``); the automatic start reads them (the
        memorisation gate's plateau); and at the end the estimator keeps the epoch best on them only when it
        beats the last epoch on the samples the two disagree on (one-sided sign test, p < 0.01, as ``sat
        train``'s ``model_to_use``; docs/benchmarks.md §12k), else the last epoch's weights.
    optimizer, lr, weight_decay, batch_size : Adam or SGD(0.9), cosine schedule per epoch.
    augment : callable applied to each float training batch, e.g. ``selfadaptive.data.augment.crop_flip``.
    random_state : int, RandomState or None (seeds initialisation and data order).
    device : "cpu", "cuda", ...

    Attributes
    ----------
    classes_ : (K,) the class labels.
    module_ : the trained network.
    soft_targets_ : (n_samples, K) float32, columns in ``classes_`` order (None for ``ce``); with a
        validation split, (n_train, K), the rows of ``train_index_``.
    label_issues_ : ``LabelIssues``, every training sample ranked by suspicion; its label ids index
        ``classes_``; ``source_index`` is the row of X.  None for ``ce``.
    history_ : list of per-epoch dicts (train loss, train accuracy; ``val_acc`` with a validation split).
    train_index_, validation_index_ : rows of X trained on and held out (None without a validation split).
    validation_scores_ : per-epoch accuracy on the held-out rows' given labels.
    selected_epoch_, model_to_use_, selection_p_value_ : the epoch best on them, which weights ``module_``
        holds ("selected" or "last"), and the sign test's p (None when the best epoch is the last).
    held_out_issues_ : ``LabelIssues`` of the held-out rows, ranked by the kept model's probability on their
        given label (a different score from the training rows' bank, so kept apart, as ``sat audit``'s
        ``held_out_label_issues.csv``).  None without a validation split or for ``ce``.
    """

    def __init__(self, module=None, loss: str = "sat", max_epochs: int = 50, start_epoch: int | str = "auto",
                 momentum: float = 0.9, variant: str = "sce", hidden_width: int = 256, depth: int = 2, optimizer: str = "sgd",
                 lr: float = 0.01, weight_decay: float = 0.0, batch_size: int = 64, augment=None,
                 random_state=None, device: str = "cpu", auto_min_concentration: float | None = None,
                 validation_fraction: float | None = None):
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
        self.validation_fraction = validation_fraction

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
        self.train_index_, self.validation_index_, self.held_out_issues_ = None, None, None
        self.validation_scores_, self.selected_epoch_, self.model_to_use_, self.selection_p_value_ = [], None, None, None
        self.n_samples_fit_ = len(y_enc)
        if k == 1:      # nothing to learn: predict the only class
            self.module_ = None
            return self
        rows = np.arange(len(y_enc))
        if self.validation_fraction is not None:
            self.train_index_, self.validation_index_ = self._split(y_enc, seed)
            rows = self.train_index_
        x_fit, y_fit = x_t[rows], y_t[rows]
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):      # seeding must not touch the caller's RNG
            torch.manual_seed(seed)
            self.module_ = self._make_module(x_fit, k).to(device)
            cfg = LossConfig(name=self.loss, momentum=self.momentum, start_epoch=self.start_epoch_, variant=self.variant,
                             auto_min_concentration=self.auto_min_concentration)
            loss_fn = build_loss(cfg, y_fit, k).to(device)
            # the ranking `sat issues` gives, also when SAT never started (the training passes' record)
            tracker = LabelIssueTracker.attach(loss_fn, y_fit) if loss_fn.bank() is not None else None
            watch = None if self.validation_index_ is None else _Validation(
                x_t[self.validation_index_], y_enc[self.validation_index_], WarmUp.within(loss_fn))
            self.history_ = fit_network(self.module_, x_fit, y_fit, loss_fn, epochs=int(self.max_epochs), lr=self.lr,
                                        optimizer=self.optimizer, weight_decay=self.weight_decay,
                                        batch_size=int(self.batch_size), seed=seed, augment=self.augment,
                                        on_epoch_end=watch)
        names = tuple(str(c) for c in self.classes_)
        kept_probs = self._choose_model(watch) if watch is not None else None
        if tracker is not None:
            self.soft_targets_ = loss_fn.bank().float().cpu().numpy()
            self.label_issues_ = tracker.label_issues(class_names=names, source_index=rows)
            self.start_epoch_chosen_ = getattr(loss_fn, "start_epoch_chosen", None)
            if watch is not None:
                self.held_out_issues_ = label_issues(kept_probs, watch.labels, "given_mass", class_names=names,
                                                     source_index=self.validation_index_)
        return self

    def _split(self, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(train rows, held-out rows), stratified by the given labels where every class has 2 samples."""
        from sklearn.model_selection import train_test_split

        f = self.validation_fraction
        if not (isinstance(f, (float, int, np.floating)) and 0 < f < 1):
            raise ValueError(f"validation_fraction must be None or a share in (0, 1), got {f!r}")
        stratify = y if np.bincount(y).min() >= 2 else None
        train, held = train_test_split(np.arange(len(y)), test_size=float(f), random_state=seed % (2**32),
                                       stratify=stratify)
        return np.sort(train), np.sort(held)

    def _choose_model(self, watch: "_Validation") -> np.ndarray:
        """Keep the best epoch's weights only when they beat the last epoch's on the held-out disagreements;
        returns the kept model's (M, K) probabilities on the held-out rows, computed when its epoch ended."""
        self.validation_scores_ = watch.scores
        for row, acc in zip(self.history_, watch.scores):
            row["val_acc"] = acc
        self.selected_epoch_, self.model_to_use_ = watch.best_epoch, "last"
        if watch.best_epoch != len(watch.scores) - 1:
            lead = paired_lead(watch.best_probs.argmax(axis=1) == watch.labels,
                               watch.last_probs.argmax(axis=1) == watch.labels)
            self.selection_p_value_ = lead["p_value"]
            if lead["keep_selected"]:
                self.module_.load_state_dict(watch.best_state)
                self.model_to_use_ = "selected"
                return watch.best_probs
        return watch.last_probs

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
        table = self.label_issues_.to_cleanlab(labels=self.classes_)
        if self.held_out_issues_ is None:
            return table
        import pandas as pd

        held = self.held_out_issues_.to_cleanlab(labels=self.classes_)
        table.index, held.index = self.train_index_, self.validation_index_
        return pd.concat([table, held]).sort_index()


    @property
    def noisy_label_mask_(self) -> np.ndarray:
        """(n_samples,) bool: training samples whose soft target points away from the given label (held-out
        rows: whose label the kept model does not predict)."""
        check_is_fitted(self, "label_issues_")
        if self.label_issues_ is None:
            raise AttributeError("loss='ce' keeps no soft targets, so it finds no label issues")
        mask = np.zeros(self.n_samples_fit_, dtype=bool)
        for found in (self.label_issues_, self.held_out_issues_):
            if found is not None:
                mask[found.source_index] = found.suggested_label != found.given_label
        return mask


class _Validation:
    """``fit_network``'s ``on_epoch_end`` under a validation split: scores each epoch on the held-out rows'
    given labels, feeds the automatic start (``observe_validation``) and keeps the best epoch's weights, with
    the last and the best epoch's (M, K) probabilities on those rows."""

    def __init__(self, x: torch.Tensor, labels: np.ndarray, sat):
        self.x, self.labels, self.sat = x, labels, sat
        self.scores: list[float] = []
        self.best_epoch, self.best_state, self.best_probs, self.last_probs = -1, None, None, None

    def __call__(self, epoch: int, model: nn.Module) -> None:
        probs = predict_proba_network(model, self.x)
        acc = float((probs.argmax(axis=1) == self.labels).mean())
        self.scores.append(acc)
        self.last_probs = probs
        if self.sat is not None:
            self.sat.observe_validation(epoch, acc)
        if self.best_state is None or acc > max(self.scores[:-1]):     # ties keep the earlier epoch
            self.best_epoch, self.best_probs = epoch, probs
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
