"""In-memory datasets that yield ``(x, y, index)`` and a batch iterator that keeps them on device."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError
from .streaming import ImageFiles, read_batches, take_rows


class ArrayDataset(Dataset):
    """Samples held as one tensor.

    x: (N, C, H, W) uint8 images (scaled to [0, 1] on access), or (N, ...) float features;
    y: (N,) int64 labels.  ``dataset[i]`` returns ``(x_i, y_i, i)``: the index is what SAT's
    target bank is keyed by.  ``source_index`` (N,) maps each row back to its position in the
    file it came from, so reports can name the original sample.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, source_index: torch.Tensor | None = None):
        if x.shape[0] != y.shape[0]:
            raise UserError(f"data has {x.shape[0]} inputs but {y.shape[0]} labels")
        self.x = x
        self.y = y.long()
        self.source_index = torch.arange(len(y)) if source_index is None else source_index.long()

    def __len__(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, i: int):
        return to_float(self.x[i]), self.y[i], i

    def take(self, rows: np.ndarray | torch.Tensor) -> "ArrayDataset":
        rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        return ArrayDataset(take_rows(self.x, rows), self.y[rows], self.source_index[rows])

    def with_labels(self, y: np.ndarray | torch.Tensor) -> "ArrayDataset":
        return ArrayDataset(self.x, torch.as_tensor(np.asarray(y), dtype=torch.long), self.source_index)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float input is passed through as float32."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@dataclass
class DataBundle:
    """What a task needs from a data source.

    mean, std: per-channel (images) or per-feature (tables) statistics of the training inputs
    *after* ``to_float``; the model normalises with them in its first layer.
    """

    train: ArrayDataset
    test: ArrayDataset
    num_classes: int
    class_names: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    val: ArrayDataset | None = None
    info: dict = field(default_factory=dict)
    train_clean_labels: np.ndarray | None = None    # (N,) true labels of ``train`` when known (data.clean_labels)
    unlabeled: torch.Tensor | None = None   # (M, ...) extra images without labels (STL-10's), for pretraining

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


#: streamed images: the normalisation statistics come from a seeded sample of this many
STATS_SAMPLE = 2048


def input_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over samples (and pixels, for images).  x: (N, C, H, W) -> (C,), or (N, D) -> (D,).

    For ``ImageFiles`` (images on disk) over a seeded sample of at most ``STATS_SAMPLE`` images."""
    if isinstance(x, ImageFiles):
        rows = torch.from_numpy(np.sort(np.random.default_rng(0).permutation(len(x))[:STATS_SAMPLE]))
        x = torch.cat(list(read_batches(x, list(rows.split(256)))))
    xf = to_float(x)
    dims = (0, 2, 3) if xf.dim() == 4 else (0,)
    mean = xf.mean(dim=dims)
    std = xf.std(dim=dims).clamp_min(1e-6)   # constant features would divide by zero
    return mean, std


def batches(n: int, batch_size: int, order: torch.Tensor | None = None):
    """Index tensors of consecutive batches over ``order`` (default 0..n-1); the last may be short."""
    order = torch.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
