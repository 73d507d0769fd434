"""Model selection on held-out data: keep the weights of the best epoch by a validation metric."""
from __future__ import annotations

from torch import nn

from .checkpoint import save_checkpoint


class BestModel:
    """Keeps the weights with the highest value of a held-out metric so far at ``path``
    (``RUN/best_model.pt``: validation robust accuracy; ``RUN/selected_model.pt``: accuracy on a
    validation split with the data's own noisy labels).

    Ties keep the earlier epoch.  ``restore(rows)`` rebuilds the running best from the metrics rows
    (their ``key`` field) on resume; the file itself was written atomically when that epoch ran.
    """

    def __init__(self, path, key: str, write: bool = True):
        self.path, self.key = path, key
        self.write = write          # False on the non-zero ranks of a data-parallel run
        self.acc = float("-inf")
        self.epoch = -1

    def restore(self, rows: list[dict]) -> None:
        for row in rows:
            if row.get(self.key) is not None and row[self.key] > self.acc:
                self.acc, self.epoch = row[self.key], row["epoch"]

    def offer(self, model: nn.Module, epoch: int, acc: float) -> bool:
        if not acc > self.acc:
            return False
        self.acc, self.epoch = acc, epoch
        if self.write:
            save_checkpoint(self.path, {"model": model.state_dict(), "epoch": epoch, self.key: acc})
        return True
