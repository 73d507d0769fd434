"""The allowed range of every numeric config key, in one table beside the dataclasses.

Checked before any work (``validation.validate``), so a value that torch, numpy or scikit-learn
would reject later, or that would make an allocator die (a seed of -1, a learning rate of inf, a
width of 10^9), is one line naming the key instead of a traceback.  Every float must be finite.
A test walks every numeric field of every config dataclass against this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SEEDS = 2 ** 32                 # numpy seeds are < 2^32
BIG_COUNT = 2 ** 31 - 1
MAX_EPOCHS = 10 ** 6
MAX_WIDTH = 65536


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def holds(self, v) -> bool:
        if isinstance(v, float) and not math.isfinite(v):
            return False
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return above and below

    def __str__(self) -> str:
        fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)    # noqa: E731
        return f"{'(' if self.low_open else '['}{fmt(self.low)}, {fmt(self.high)}{')' if self.high_open else ']'}"


R = Range
#: dotted key -> the range of its value (for a tuple, of each item)
RANGES: dict[str, Range] = {
    "seed": R(0, SEEDS, high_open=True),
    "data.image_size": R(8, 4096), "data.workers": R(0, 256), "data.test_fraction": R(0.0, 1.0, True, True),
    "data.num_classes": R(0, 1_000_000), "data.subset": R(0, BIG_COUNT), "data.test_subset": R(0, BIG_COUNT),
    "data.val_fraction": R(0.0, 1.0, high_open=True), "data.val_size": R(0, BIG_COUNT),
    "data.mean": R(-1e6, 1e6), "data.std": R(0.0, 1e6, low_open=True), "data.crop_padding": R(0, 1024),
    "data.split_seed": R(0, SEEDS, high_open=True), "data.batch_size": R(1, 2 ** 24),
    "data.eval_batch_size": R(1, 2 ** 24),
    "noise.rate": R(0.0, 1.0), "noise.seed": R(0, SEEDS, high_open=True),
    "loss.momentum": R(0.0, 1.0), "loss.start_epoch": R(0, MAX_EPOCHS), "loss.auto_window": R(1, 1000),
    "loss.auto_min_class_ratio": R(0.0, 1.0), "loss.auto_min_fit": R(0.0, 1.0),
    "loss.auto_max_changes": R(0.0, 1.0), "loss.auto_min_concentration": R(0.0, 1e6),
    "loss.q": R(0.0, 1.0, low_open=True), "loss.alpha": R(0.0, 1e6), "loss.beta": R(0.0, 1e6),
    "loss.lam": R(0.0, 1e6), "loss.coverage": R(0.0, 1.0, low_open=True), "loss.reward": R(1.0, 1e6, low_open=True),
    "loss.reference_width": R(0, MAX_WIDTH),
    "model.base_width": R(0, MAX_WIDTH), "model.depth": R(0, 1000), "model.dropout": R(0.0, 1.0, high_open=True),
    "optim.lr": R(0.0, math.inf, True, True),      # any finite positive rate: a diverging one is the loop's to report
    "optim.momentum": R(0.0, 1.0), "optim.weight_decay": R(0.0, 1e3),
    "optim.epochs": R(1, MAX_EPOCHS), "optim.milestones": R(0, MAX_EPOCHS), "optim.gamma": R(0.0, 1e3, low_open=True),
    "optim.warmup_epochs": R(0, MAX_EPOCHS), "optim.eta": R(0.0, 1e3, low_open=True),
    "log.checkpoint_every": R(1, MAX_EPOCHS),
    "adversarial.eps": R(0.0, 1.0), "adversarial.step_size": R(0.0, 1.0, low_open=True), "adversarial.steps": R(1, 10 ** 4),
    "adversarial.beta": R(0.0, 1e6), "adversarial.eval_steps": R(1, 10 ** 4), "adversarial.eval_step_size": R(0.0, 1.0),
    "adversarial.eval_size": R(0, BIG_COUNT), "adversarial.test_steps": R(1, 10 ** 4),
    "adversarial.test_step_size": R(0.0, 1.0),
    "ssl.dim": R(1, MAX_WIDTH), "ssl.hidden": R(1, MAX_WIDTH), "ssl.target_momentum": R(0.0, 1.0, high_open=True),
    "ssl.view_size": R(0, 4096), "ssl.crop_min_scale": R(0.0, 1.0, low_open=True), "ssl.blur": R(0.0, 1.0),
    "ssl.knn_every": R(0, MAX_EPOCHS), "ssl.knn_k": R(1, 10 ** 6), "ssl.knn_temperature": R(0.0, 1e3, low_open=True),
    "ssl.monitor_size": R(2, 10 ** 7),
}


def out_of_range(key: str, value) -> str | None:
    """The error line for ``value`` of ``key`` (None when it is allowed, absent or not numeric)."""
    rng = RANGES.get(key)
    if rng is None or value is None or isinstance(value, (str, bool)):
        return None
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if not rng.holds(v):
            what = "each value of " if isinstance(value, tuple) else ""
            finite = " (a finite number)" if isinstance(v, float) and not math.isfinite(v) else ""
            return f"{what}{key} must be in {rng}{finite}, got {v!r}"
    return None
