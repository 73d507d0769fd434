"""Images read from disk as they are needed, for image folders that do not fit in memory.

``ImageFiles`` stands in for the ``(N, 3, S, S)`` uint8 tensor of an in-memory data set: it has
``shape`` and ``dtype``, ``x[i]`` and ``x[rows]`` decode those files, and ``subset(rows)`` is a lazy
view, so splits, subsets and label files work unchanged.  ``read_batches`` is what the trainer
and the evaluator iterate: plain indexing for in-memory tensors, and for ``ImageFiles`` a
``DataLoader`` whose worker processes decode and resize with Pillow a few batches ahead of the
device.  Decoding is deterministic; random crops and flips still run batched on the device after
it, so a streamed run trains on exactly the pixels an in-memory run of the same folder sees.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import UserError, first_line


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image file as (3, size, size) uint8: RGB, bilinear resize.  The in-memory loader uses it too."""
    try:
        from PIL import Image
    except ImportError:
        raise UserError("data.name=image_folder needs Pillow: pip install 'selfadaptive[images]'") from None
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))   # a writable copy
    except Exception as e:
        raise UserError(f"{path} is not a readable image ({type(e).__name__}: {first_line(e, 80)})") from None


class ImageFiles(Dataset):
    """N image files, decoded on access to (3, S, S) uint8 tensors.

    paths: (N,) file paths; size: S; workers: decoding processes ``read_batches`` uses (0: decode
    in the calling process).
    """

    dtype = torch.uint8

    def __init__(self, paths: Iterable[str | Path], size: int, workers: int = 0):
        self.paths = [str(p) for p in paths]
        self.size = int(size)
        self.workers = int(workers)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.paths)

    def _rows(self, key) -> np.ndarray:
        if isinstance(key, slice):
            return np.arange(len(self))[key]
        rows = np.asarray(key.cpu() if isinstance(key, torch.Tensor) else key, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row out of range for {len(self)} image files")
        return rows

    def __getitem__(self, key) -> torch.Tensor:
        """``x[i]`` -> (3, S, S); ``x[rows]`` (slice, list, array or tensor) -> (B, 3, S, S)."""
        if isinstance(key, (int, np.integer)) or (isinstance(key, torch.Tensor) and key.dim() == 0):
            return torch.from_numpy(decode_image(self.paths[int(key)], self.size))
        rows = self._rows(key)
        out = torch.empty((len(rows), 3, self.size, self.size), dtype=torch.uint8)
        for j, i in enumerate(rows):
            out[j] = torch.from_numpy(decode_image(self.paths[i], self.size))
        return out

    def subset(self, rows) -> "ImageFiles":
        """The files at ``rows``, still undecoded."""
        return ImageFiles([self.paths[i] for i in self._rows(rows)], self.size, self.workers)

    def numpy(self):
        raise UserError("this operation needs every image in memory; it is not available with data.stream=true "
                        "(image corruptions, for example): set data.stream=false")


def take_rows(x, rows):
    """``x[rows]`` for tensors and arrays; a lazy subset for ``ImageFiles``."""
    return x.subset(rows) if isinstance(x, ImageFiles) else x[rows]


def read_batches(x, index_batches: list[torch.Tensor], pin_memory: bool = False) -> Iterator[torch.Tensor]:
    """``x[idx]`` for each (B,) index tensor of ``index_batches``, in order.

    In-memory tensors are indexed where they live.  ``ImageFiles`` with ``workers > 0`` are decoded
    by a ``DataLoader`` in that many processes, up to four batches per worker ahead, optionally
    into pinned memory for asynchronous copies to a GPU.
    """
    if not isinstance(x, ImageFiles):
        for idx in index_batches:
            yield x[idx.to(x.device)]
        return
    if x.workers == 0:
        for idx in index_batches:
            yield x[idx]
        return
    # its own generator: a DataLoader otherwise draws its workers' base seed from the global RNG,
    # and a streamed run would then see other dropout masks and crops than an in-memory one
    loader = DataLoader(x, batch_sampler=[idx.tolist() for idx in index_batches], num_workers=x.workers,
                        pin_memory=pin_memory, prefetch_factor=4, collate_fn=partial(_stack, x.shape[1:]),
                        generator=torch.Generator().manual_seed(0))
    try:
        yield from loader
    except UserError as e:
        # the worker's exception arrives wrapped in its traceback text; keep the one line that names the file
        raise UserError(str(e).strip().splitlines()[-1].split(": ", 1)[-1]) from None


def _stack(sample_shape: tuple[int, ...], items: list[torch.Tensor]) -> torch.Tensor:
    # a rank's share of a short last batch can be empty under DDP
    return torch.stack(items) if items else torch.empty((0, *sample_shape), dtype=torch.uint8)
