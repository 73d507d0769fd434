"""Model selection on held-out data: keep the weights of the best epoch by a validation metric."""
from __future__ import annotations

import numpy as np
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


#: one-sided level of the sign test below: the selected epoch must beat the last one at p under this.  The
#: selected epoch is the split's maximum over the run, so a nominal 0.05 is optimistic; over 227 stored runs
#: 0.05 moved to it 55 times, 10 of them for a model worse on clean test labels (worst -9.3 points, on 135
#: validation samples), 0.01 38 times, 2 worse (worst -0.9): docs/benchmarks.md §12k
KEEP_SELECTED_P = 0.01


def sign_test_p(wins: int, losses: int, alternative: str = "greater") -> float:
    """Exact sign test on the samples two models disagree on: ``greater``, P(X >= wins) for X ~
    Binomial(wins + losses, 1/2), the chance that a model no better than the other wins at least ``wins``
    of them; ``two-sided``, the chance of a split at least this uneven either way (1.0 when they never
    disagree)."""
    from scipy.stats import binomtest  # scikit-learn's own dependency

    n = int(wins) + int(losses)
    return 1.0 if n == 0 else float(binomtest(int(wins), n, 0.5, alternative=alternative).pvalue)


def disagreements(a_correct, b_correct) -> tuple[int, int]:
    """(wins, losses) of model a against model b on the same M samples, from (M,) bool arrays of which
    samples each gets right: the samples only a gets right, and those only b does."""
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"{a.shape} and {b.shape}: the two models must score the same samples")
    return int((a & ~b).sum()), int((~a & b).sum())


def paired_lead(selected_correct, last_correct) -> dict:
    """Is the model selected on the validation split really better there than the last epoch's?

    Both (M,) bool arrays score the *same* M validation samples, so the question is a paired one: of the
    samples the two models disagree on (``wins``: selected right, last wrong; ``losses``: the reverse), does
    the selected model win more than chance would give?  An unpaired gap of accuracies, read against the
    sampling error of one accuracy, hides that the two models agree on most samples.
    Returns wins, losses, the sign test's one-sided ``p_value`` and ``keep_selected`` (p < KEEP_SELECTED_P)."""
    wins, losses = disagreements(selected_correct, last_correct)
    p = sign_test_p(wins, losses)
    return {"wins": wins, "losses": losses, "p_value": p, "keep_selected": p < KEEP_SELECTED_P}


def split_predictions(model: nn.Module, dataset, device, batch_size: int, num_classes: int, weights=None):
    """(M,) int64 numpy: the class ``model`` predicts for each sample of ``dataset``, or, with ``weights``
    (a checkpoint path holding ``model``, e.g. ``BestModel``'s file), what those weights predict in a copy
    of ``model``, which is left untouched."""
    if weights is not None:
        import copy

        from .checkpoint import load_checkpoint

        model = copy.deepcopy(model)
        model.load_state_dict(load_checkpoint(weights, map_location=device)["model"])
    from .evaluation import logits_of

    return logits_of(model, dataset.x, device, batch_size)[:, :num_classes].argmax(1).cpu().numpy()
