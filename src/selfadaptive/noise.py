"""Seeded synthetic label noise, stored so that every method can be run on the same corruption.

Kinds (sat-reference §2):

* ``uniform`` -- the authors' "corrupted_label": floor(r*N) indices drawn without replacement,
  each relabelled uniformly from *all* K classes, so about r*(K-1)/K of the labels end up wrong.
* ``flip`` -- symmetric noise: floor(r*N) indices, each moved to a uniformly drawn *other* class,
  so exactly floor(r*N)/N of the labels are wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

NOISE_KINDS = ("none", "uniform", "flip")


@dataclass(frozen=True)
class LabelNoise:
    """clean_labels, noisy_labels: (N,) int64; noisy_mask: (N,) bool, True where they differ;
    corrupted_indices: the indices that were redrawn (for ``uniform`` some kept their label)."""

    clean_labels: np.ndarray
    noisy_labels: np.ndarray
    noisy_mask: np.ndarray
    corrupted_indices: np.ndarray
    kind: str
    rate: float

    @property
    def realised_rate(self) -> float:
        """Fraction of labels that are actually wrong."""
        return float(self.noisy_mask.mean()) if self.noisy_mask.size else 0.0

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, clean_labels=self.clean_labels, noisy_labels=self.noisy_labels,
                     noisy_mask=self.noisy_mask, corrupted_indices=self.corrupted_indices,
                     kind=np.array(self.kind), rate=np.array(self.rate))


def corrupt_labels(labels: np.ndarray, num_classes: int, rate: float, kind: str = "uniform",
                   seed: int = 0) -> LabelNoise:
    """Corrupt a fraction ``rate`` of ``labels`` (N,) in [0, K) with the seeded rule of ``kind``."""
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"noise rate must be in [0, 1], got {rate}")
    if kind not in NOISE_KINDS:
        raise UserError(f"unknown noise kind {kind!r}; choose one of {', '.join(NOISE_KINDS)}")
    if kind == "flip" and num_classes < 2:
        raise UserError("flip noise needs at least 2 classes")
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    chosen = np.empty(0, dtype=np.int64)
    if kind != "none" and rate > 0:
        chosen = np.sort(rng.choice(n, size=int(np.floor(rate * n)), replace=False))
        if kind == "uniform":
            noisy[chosen] = rng.integers(0, num_classes, size=chosen.size)
        else:
            # an offset in [1, K) moves every chosen label to a different class, uniformly
            noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=chosen.size)) % num_classes
    return LabelNoise(clean_labels=labels, noisy_labels=noisy, noisy_mask=noisy != labels,
                      corrupted_indices=chosen, kind=kind, rate=float(rate))
