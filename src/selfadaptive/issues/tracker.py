"""The per-epoch history of a loss's soft targets, kept beside the bank, from which the label
ranking is scored (``mean_given_mass``) and the epoch each sample was first flagged."""
from __future__ import annotations

import torch
from torch import nn

from .ranking import DEFAULT_SCORE, debiased_targets, given_mass, issue_scores, prior_weight


class LabelIssueTracker(nn.Module):
    """Per-sample history of the soft targets, updated once per epoch (no extra forward pass).

    Buffers (carried by ``state_dict`` and so by checkpoints):

    * ``given_mass_sum`` (N,) float64: sum over tracked epochs of ``T_iy`` at the epoch's end;
    * ``first_flagged_epoch`` (N,) int64: the first epoch whose end found the (debiased) bank's
      argmax away from y_i (-1: never);
    * ``epochs_tracked`` (): how many epochs were summed;
    * ``momentum`` (): the EMA momentum of a bank that starts at onehot(y) (SAT), NaN for banks that
      start elsewhere (ELR); it gives the weight ``a^m`` of that start (``prior_weight``).

    An epoch is tracked once the bank has moved (``T`` is no longer the one-hot of the labels),
    so SAT's E_s warm-up does not dilute the average with uninformative ones.

    Label issues must not hang on SAT having started (a short run, or ``start_epoch=auto`` whose
    rule never fired), so the tracker also keeps what the training passes saw every epoch:

    * ``prediction_mass_sum`` (N,) float64: sum over epochs of the model's probability ``p_iy`` on
      the given label, from the training forward pass;
    * ``last_prediction`` (N,) int64: the class the last training pass predicted (-1: unseen);
    * ``epochs_predicted`` (): how many epochs were summed.

    ``prediction_targets`` turns them into an (N, K) stand-in for the bank.
    """

    def __init__(self, labels: torch.Tensor, momentum: float | None = None):
        super().__init__()
        labels = torch.as_tensor(labels).long()
        self.register_buffer("momentum", torch.tensor(float("nan") if momentum is None else float(momentum),
                                                      dtype=torch.float64))
        self.register_buffer("labels", labels.clone())
        self.register_buffer("given_mass_sum", torch.zeros(labels.shape[0], dtype=torch.float64))
        self.register_buffer("first_flagged_epoch", torch.full((labels.shape[0],), -1, dtype=torch.long))
        self.register_buffer("epochs_tracked", torch.zeros((), dtype=torch.long))
        self.register_buffer("prediction_mass_sum", torch.zeros(labels.shape[0], dtype=torch.float64))
        self.register_buffer("last_prediction", torch.full((labels.shape[0],), -1, dtype=torch.long))
        self.register_buffer("epochs_predicted", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_predictions(self, given_prob: torch.Tensor, prediction: torch.Tensor) -> None:
        """Record one epoch of training passes: ``p_iy`` (N,) and the predicted class (N,)."""
        self.prediction_mass_sum += given_prob.double()
        self.last_prediction.copy_(prediction)
        self.epochs_predicted += 1

    @torch.no_grad()
    def update(self, soft_targets: torch.Tensor, epoch: int) -> bool:
        """Record the bank (N, K) at the end of ``epoch``; returns whether the epoch was tracked."""
        mass = given_mass(soft_targets, self.labels)
        if int(self.epochs_tracked) == 0 and bool((mass == 1.0).all()):
            return False        # the bank has not started moving yet
        self.given_mass_sum += mass.double()
        self.epochs_tracked += 1
        flagged = debiased_targets(soft_targets, self.labels, self.prior_weight()).argmax(dim=1) != self.labels
        self.first_flagged_epoch[flagged & (self.first_flagged_epoch < 0)] = epoch
        return True

    def mean_given_mass(self) -> torch.Tensor | None:
        """(N,) epoch-averaged ``T_iy``, or None before any epoch was tracked."""
        n = int(self.epochs_tracked)
        return (self.given_mass_sum / n).float() if n else None

    @classmethod
    def for_loss(cls, labels: torch.Tensor, loss_fn) -> "LabelIssueTracker | None":
        """The tracker for ``loss_fn``'s bank (None when the loss keeps none); a bank that starts
        at the one-hot labels (``starts_one_hot``) records its momentum."""
        if loss_fn.bank() is None:
            return None
        return cls(labels, loss_fn.momentum if getattr(loss_fn, "starts_one_hot", False) else None)

    def prior_weight(self) -> float:
        """Weight ``a^m`` that the starting one-hot still has in the bank after m tracked epochs."""
        return prior_weight(self.momentum, self.epochs_tracked)

    def scores(self, soft_targets: torch.Tensor, score: str = DEFAULT_SCORE) -> torch.Tensor:
        mean = self.mean_given_mass()
        if score == "mean_given_mass" and mean is None:
            score = "given_mass"
        return issue_scores(soft_targets, self.labels, score, mean)


def prediction_targets(prediction_mass_sum, last_prediction, epochs_predicted, labels,
                       num_classes: int) -> torch.Tensor:
    """An (N, K) stand-in for a bank that never moved, from the training passes alone: the mean
    probability on the given label ``m_i`` stays on y_i, and the rest, ``1 - m_i``, goes to the
    class the last pass predicted, or is spread over the other classes where that class is y_i
    (or the sample was never seen).  Its ``given_mass`` is ``m_i`` for every sample (the ranking);
    its argmax, the suggestion, leaves y_i where the model disagrees by less than half its mass."""
    labels = torch.as_tensor(labels).long()
    n = labels.shape[0]
    mass = (torch.as_tensor(prediction_mass_sum, dtype=torch.float64) / max(int(epochs_predicted), 1)).float()
    other = torch.as_tensor(last_prediction).long()
    agrees = (other < 0) | (other == labels)
    t = ((1 - mass) / max(num_classes - 1, 1)).view(-1, 1).expand(n, num_classes).clone()
    t[~agrees] = 0.0
    rows = torch.arange(n)
    t[rows[~agrees], other[~agrees]] = 1 - mass[~agrees]
    t[rows, labels] = mass
    return t
