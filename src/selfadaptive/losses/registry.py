"""The loss table: each loss registers itself once, and everything else reads this table.

A loss module declares, beside its class::

    @register_loss("name", tasks=("classify", "robust"), defaults={"momentum": 0.9})
    class MyLoss(IndexedLoss):
        @classmethod
        def from_config(cls, options, ctx): ...

``build_loss``, the config's choices and task rules (``loss.name``), the network's output head
(``models.build_classifier``), ``SATClassifier`` and ``sat pretrain`` all read the table, so a new
loss is one file and one registration.  Losses outside this package register the same way from
any module named in ``SAT_PLUGINS`` (comma-separated), or in the ``selfadaptive.plugins``
entry-point group of an installed package; both are imported the first time the table is read.
"""
from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

#: loss.bank_dtype -> the storage dtype of a target bank
BANK_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: the network heads a loss can ask for: K logits, K + 1 (an abstain class), SelectiveNet's
#: prediction/selection/auxiliary heads (2K + 1), or an embedding (self-supervised)
HEADS = ("classes", "abstain", "selection", "embedding")
#: the environment variable naming extra modules that register losses
PLUGINS_ENV = "SAT_PLUGINS"


@dataclass(frozen=True)
class LossSpec:
    """One row of the table: what ``loss.name`` builds, for which tasks, on which head."""

    name: str
    cls: type
    tasks: tuple[str, ...]
    head: str = "classes"
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def options(self, cfg) -> dict:
        """The ``LossConfig`` fields this loss reads, a field left at None taking the default."""
        values = {}
        for key, default in self.defaults.items():
            value = getattr(cfg, key, None)
            values[key] = default if value is None else value
        return values


@dataclass(frozen=True)
class BuildContext:
    """What a loss is built for: the data, the bank's storage and the reduction/gather functions
    (``None``: this process's batch; data-parallel runs pass the global ones)."""

    labels: torch.Tensor | None         # (N,) given labels; None for self-supervised losses
    num_classes: int                    # K (0 for self-supervised losses)
    num_samples: int                    # N
    dim: int = 0                        # D, the embedding size of self-supervised losses
    bank_dtype: torch.dtype = torch.float32
    reduce: Any = None
    gather: Any = None


_TABLE: dict[str, LossSpec] = {}
_plugins_loaded = False


def register_loss(name: str, *, tasks: tuple[str, ...], head: str = "classes", defaults: Mapping[str, Any] | None = None):
    """Class decorator: add the loss to the table under ``name``."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")

    def deco(cls):
        if not callable(getattr(cls, "from_config", None)):
            raise TypeError(f"{cls.__name__} needs a classmethod from_config(options, ctx) to be registered")
        _TABLE[name] = LossSpec(name, cls, tuple(tasks), head, dict(defaults or {}))
        return cls
    return deco


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)
    from importlib.metadata import entry_points
    for ep in entry_points(group="selfadaptive.plugins"):
        try:
            ep.load()
        except Exception as e:      # a broken third-party package must not stop the built-in losses
            warnings.warn(f"selfadaptive plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)


def loss_names(task: str | None = None) -> tuple[str, ...]:
    """Registered loss names, in registration order; only those a ``task`` may train when given."""
    _load_plugins()
    return tuple(n for n, s in _TABLE.items() if task is None or task in s.tasks)


def loss_spec(name: str) -> LossSpec:
    _load_plugins()
    if name not in _TABLE:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(_TABLE)}")
    return _TABLE[name]


def build_loss(cfg, labels: torch.Tensor | None, num_classes: int, *, num_samples: int | None = None, dim: int = 0,
               reduce=None, gather=None):
    """The loss named by ``cfg.name`` (a ``LossConfig``); a field left at None takes the method's default.

    labels: (N,) given training labels, indexed by dataset index (None for self-supervised losses,
    which then need ``num_samples`` and ``dim``).  ``reduce``/``gather``: see ``BuildContext``.
    """
    spec = loss_spec(cfg.name)
    n = len(labels) if labels is not None else int(num_samples or 0)
    ctx = BuildContext(labels=None if labels is None else torch.as_tensor(labels), num_classes=int(num_classes),
                       num_samples=n, dim=int(dim), bank_dtype=BANK_DTYPES[cfg.bank_dtype], reduce=reduce,
                       gather=gather)
    return spec.cls.from_config(spec.options(cfg), ctx)
