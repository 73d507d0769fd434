"""Seeded synthetic label noise, stored so that every method can be run on the same corruption.

Kinds (docs/method.md §2):

* ``uniform`` -- the authors' "corrupted_label": floor(r*N) indices drawn without replacement,
  each relabelled uniformly from *all* K classes, so about r*(K-1)/K of the labels end up wrong.
* ``flip`` -- symmetric noise: floor(r*N) indices, each moved to a uniformly drawn *other* class,
  so exactly floor(r*N)/N of the labels are wrong.
* ``asymmetric`` -- class-dependent pair noise: in every source class c, floor(r*n_c) samples are
  moved to ``class_map[c]``.  CIFAR-10: truck->automobile, bird->airplane, deer->horse, cat<->dog
  (so about r/2 of all labels end up wrong); CIFAR-100: the next class within its super-class;
  any other data: the next class, c -> (c + 1) mod K.
* ``instance`` -- instance-dependent noise (Xia et al., NeurIPS 2020): each sample flips with its
  own rate around r, towards a class that depends on its input (``instance``); about r of the
  labels end up wrong.

Image corruptions (labels kept, images replaced) live in ``images``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, first_line
from .instance import instance_noisy_labels

LABEL_NOISE_KINDS = ("none", "uniform", "flip", "asymmetric", "instance")
IMAGE_NOISE_KINDS = ("gaussian", "random_pixels", "shuffled_pixels")
NOISE_KINDS = LABEL_NOISE_KINDS + IMAGE_NOISE_KINDS
#: noise read from label files rather than drawn: the data's own labels (with data.clean_labels), CIFAR-N
GIVEN_NOISE_KINDS = ("given", "cifar10n", "cifar100n")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# truck->automobile, bird->airplane, deer->horse, cat<->dog
CIFAR10_PAIRS = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


@dataclass(frozen=True)
class LabelNoise:
    """clean_labels, noisy_labels: (N,) int64; noisy_mask: (N,) bool, True for the corrupted
    samples (a wrong label, or a replaced image); corrupted_indices: the indices that were redrawn
    (for ``uniform`` some kept their label); corrupted_images: for image corruptions, the new
    images of ``corrupted_indices`` in the training set's storage layout, else None."""

    clean_labels: np.ndarray
    noisy_labels: np.ndarray
    noisy_mask: np.ndarray
    corrupted_indices: np.ndarray
    kind: str
    rate: float
    corrupted_images: np.ndarray | None = None

    @classmethod
    def from_labels(cls, clean_labels: np.ndarray, noisy_labels: np.ndarray, kind: str) -> "LabelNoise":
        """Noise given as two label arrays (a data set's own labels, CIFAR-N): every disagreement is
        a corrupted sample, and the rate is the realised one."""
        mask = np.asarray(clean_labels) != np.asarray(noisy_labels)
        return cls(clean_labels=clean_labels, noisy_labels=noisy_labels, noisy_mask=mask,
                   corrupted_indices=np.flatnonzero(mask), kind=kind, rate=float(mask.mean()) if mask.size else 0.0)

    @property
    def realised_rate(self) -> float:
        """Fraction of labels that are actually wrong."""
        return float(self.noisy_mask.mean()) if self.noisy_mask.size else 0.0

    def save(self, path: str | Path) -> None:
        extra = {} if self.corrupted_images is None else {"corrupted_images": self.corrupted_images}
        with open(path, "wb") as fh:
            np.savez(fh, clean_labels=self.clean_labels, noisy_labels=self.noisy_labels,
                     noisy_mask=self.noisy_mask, corrupted_indices=self.corrupted_indices,
                     kind=np.array(self.kind), rate=np.array(self.rate), **extra)

    @classmethod
    def load(cls, path: str | Path) -> "LabelNoise":
        """Read a ``noise.npz`` written by ``save`` (no pickles)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"noise file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(clean_labels=z["clean_labels"], noisy_labels=z["noisy_labels"], noisy_mask=z["noisy_mask"],
                           corrupted_indices=z["corrupted_indices"], kind=str(z["kind"]), rate=float(z["rate"]),
                           corrupted_images=z["corrupted_images"] if "corrupted_images" in z.files else None)
        except UserError:
            raise
        except Exception as e:  # damaged archive or missing arrays
            raise UserError(f"{path} is not a readable noise.npz ({type(e).__name__}: {first_line(e, 120)})") from None

    def apply_images(self, x: np.ndarray) -> np.ndarray:
        """The training inputs with the corrupted images swapped in (a copy; ``x`` is untouched)."""
        if self.corrupted_images is None:
            return x
        x = x.copy()
        x[self.corrupted_indices] = self.corrupted_images
        return x


def asymmetric_map(num_classes: int, class_names=None, coarse_of_class=None) -> dict[int, int]:
    """Source class -> target class for ``asymmetric`` noise (see the module docstring)."""
    if class_names is not None and tuple(class_names) == CIFAR10_CLASSES:
        return dict(CIFAR10_PAIRS)
    if coarse_of_class is not None:
        coarse = np.asarray(coarse_of_class)
        out = {}
        for group in np.unique(coarse):
            members = np.flatnonzero(coarse == group)
            for i, c in enumerate(members):
                out[int(c)] = int(members[(i + 1) % len(members)])
        return out
    return {c: (c + 1) % num_classes for c in range(num_classes)}


def corrupt_labels(labels: np.ndarray, num_classes: int, rate: float, kind: str = "uniform",
                   seed: int = 0, class_map: dict[int, int] | None = None, features: np.ndarray | None = None
                   ) -> LabelNoise:
    """Corrupt a fraction ``rate`` of ``labels`` (N,) in [0, K) with the seeded rule of ``kind``.

    ``class_map`` is the source->target map of ``asymmetric`` noise (default: next class);
    ``features`` (N, ...) are the inputs ``instance`` noise depends on (``noise.instance``).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"noise rate must be in [0, 1], got {rate}")
    if kind not in LABEL_NOISE_KINDS:
        raise UserError(f"unknown label noise kind {kind!r}; choose one of {', '.join(LABEL_NOISE_KINDS)}")
    if kind == "flip" and num_classes < 2:
        raise UserError("flip noise needs at least 2 classes")
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    chosen = np.empty(0, dtype=np.int64)
    if kind == "asymmetric" and rate > 0:
        class_map = class_map if class_map is not None else asymmetric_map(num_classes)
        picked = []
        for src, dst in sorted(class_map.items()):
            members = np.flatnonzero(labels == src)
            take = rng.choice(members, size=int(np.floor(rate * members.size)), replace=False)
            noisy[take] = dst
            picked.append(take)
        chosen = np.sort(np.concatenate(picked)) if picked else chosen
    elif kind == "instance" and rate > 0:
        if features is None or len(features) != n:
            raise UserError("instance noise depends on the inputs: pass features (N, ...) with one row per label")
        if num_classes < 2:
            raise UserError("instance noise needs at least 2 classes")
        noisy = instance_noisy_labels(features, labels, num_classes, rate, seed)
        chosen = np.flatnonzero(noisy != labels)
    elif kind != "none" and rate > 0:
        chosen = np.sort(rng.choice(n, size=int(np.floor(rate * n)), replace=False))
        if kind == "uniform":
            noisy[chosen] = rng.integers(0, num_classes, size=chosen.size)
        else:
            # an offset in [1, K) moves every chosen label to a different class, uniformly
            noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=chosen.size)) % num_classes
    return LabelNoise(clean_labels=labels, noisy_labels=noisy, noisy_mask=noisy != labels,
                      corrupted_indices=chosen, kind=kind, rate=0.0 if kind == "none" else float(rate))
