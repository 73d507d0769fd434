"""``IndexedDataset``: any map-style dataset, yielding the sample's index beside it, as SAT's losses need."""
from __future__ import annotations

from torch.utils.data import Dataset


class IndexedDataset(Dataset):
    """Wrap a map-style dataset (torchvision, Hugging Face ``datasets`` with a torch format, your
    own) so that item ``i`` is ``(x, y, i)``: the per-sample losses key their bank on that index.

    An item that is a ``(x, y)`` tuple becomes ``(x, y, i)``; a dict (Hugging Face) gains an
    ``"index"`` entry.  ``len`` and indexing pass through; a ``DataLoader`` collates the index into
    a (B,) tensor.
    """

    def __init__(self, dataset, index_key: str = "index"):
        self.dataset, self.index_key = dataset, index_key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        if isinstance(item, dict):
            return {**item, self.index_key: i}
        if isinstance(item, (tuple, list)) and len(item) == 2:
            return item[0], item[1], i
        raise TypeError(f"IndexedDataset expects (x, y) tuples or dicts from the wrapped dataset; item {i} is "
                        f"a {type(item).__name__}")
