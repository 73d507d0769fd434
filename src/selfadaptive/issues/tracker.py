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
    * ``last_prediction_mass`` (N,) float32: the probability the last pass gave that class;
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
        self.register_buffer("last_prediction_mass", torch.zeros(labels.shape[0]))
        self.register_buffer("epochs_predicted", torch.zeros((), dtype=torch.long))

    #: buffers added after runs were already being checkpointed: absent from older checkpoints
    PREDICTION_BUFFERS = ("prediction_mass_sum", "last_prediction", "last_prediction_mass", "epochs_predicted")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """A checkpoint written before the prediction buffers existed resumes with them empty."""
        state_dict = dict(state_dict)
        for name in self.PREDICTION_BUFFERS:
            state_dict.setdefault(name, getattr(self, name).clone())
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @torch.no_grad()
    def update_predictions(self, given_prob: torch.Tensor, prediction: torch.Tensor,
                           prediction_mass: torch.Tensor) -> None:
        """Record one epoch of training passes: ``p_iy`` (N,), the predicted class (N,) and its
        probability (N,), on any device: the history lives beside the bank, which may sit in host
        memory (``bank_device=cpu``) while the passes run on the GPU."""
        self.prediction_mass_sum += given_prob.to(self.prediction_mass_sum.device, torch.float64)
        self.last_prediction.copy_(prediction)
        self.last_prediction_mass.copy_(prediction_mass)
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

    @classmethod
    def attach(cls, criterion, labels) -> "LabelIssueTracker":
        """A tracker that follows ``criterion`` (a loss with a bank, called as
        ``criterion(logits, targets, index, epoch)``) in your own loop, through forward hooks: it
        records each sample's training-pass probability on its label and its prediction, and closes
        an epoch (as the trainer does at each epoch's end) when the first batch of the next one
        arrives.  ``tracker.label_issues()`` is then the ranking ``sat issues`` gives for the same
        run.  Under a process group the records are gathered like the loss's bank rows.

            criterion = SelfAdaptiveLoss(train_labels, num_classes=10)
            tracker = LabelIssueTracker.attach(criterion, train_labels)
            ...  # train
            issues = tracker.label_issues()
        """
        tracker = cls.for_loss(torch.as_tensor(labels), criterion)
        if tracker is None:
            raise ValueError(f"{type(criterion).__name__} keeps no per-sample bank to rank labels from")
        tracker.to(criterion.bank().device)
        tracker._follow(criterion)
        return tracker

    def _follow(self, criterion) -> None:
        n = self.labels.shape[0]
        device = self.labels.device
        self.register_buffer("epoch_given_prob", torch.zeros(n, device=device))
        self.register_buffer("epoch_prediction", torch.full((n,), -1, dtype=torch.long, device=device))
        self.register_buffer("epoch_prediction_mass", torch.zeros(n, device=device))
        self.register_buffer("open_epoch", torch.tensor(-1, device=device))       # -1: none open
        self._criterion = [criterion]       # a list: not a submodule (its state is the loss's own)

        def before(module, args):
            epoch = int(args[3])
            if int(self.open_epoch) >= 0 and epoch != int(self.open_epoch):
                self.close_epoch()
            self.open_epoch.fill_(epoch)

        def after(module, args, output):
            logits, targets, index = args[0], args[1], args[2]
            with torch.no_grad():
                given_prob, prediction, prediction_mass = prediction_record(logits, targets, module.bank().shape[1])
                record = torch.stack([given_prob, prediction.float(), prediction_mass], dim=1)
                all_index, all_record, _ = module.gather(index, record)
                all_index = all_index.to(self.epoch_given_prob.device)
                self.epoch_given_prob[all_index] = all_record[:, 0].to(self.epoch_given_prob.device)
                self.epoch_prediction[all_index] = all_record[:, 1].long().to(self.epoch_given_prob.device)
                self.epoch_prediction_mass[all_index] = all_record[:, 2].to(self.epoch_given_prob.device)
        criterion.register_forward_pre_hook(before)
        criterion.register_forward_hook(after)

    def close_epoch(self) -> None:
        """Record the open epoch (its predictions, then the bank at its end); a no-op when none is open."""
        epoch = int(self.open_epoch)
        if epoch < 0:
            return
        self.update_predictions(self.epoch_given_prob, self.epoch_prediction, self.epoch_prediction_mass)
        self.update(self._criterion[0].bank(), epoch)
        self.open_epoch.fill_(-1)

    def label_issues(self, score: str = DEFAULT_SCORE, **kwargs):
        """The ranked ``LabelIssues`` of the samples so far (closing the open epoch first); ``kwargs``
        (source_index, class_names, source_paths) name the samples as in ``label_issues``."""
        return rank_from_history(*self._closed_run(), score, **kwargs)[0]

    def pred_probs(self):
        """(N, K) float64 numpy rows summing to 1, cleanlab's ``pred_probs`` from this run (closing the
        open epoch first); see ``pred_probs_from_history``."""
        return pred_probs_from_history(*self._closed_run())

    def _closed_run(self):
        """(bank (N, K), labels (N,), history) as numpy, after closing the open epoch: what
        ``rank_from_history`` and ``pred_probs_from_history`` read, as from a run folder."""
        self.close_epoch()
        history = {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}
        return self._criterion[0].bank().detach().float().cpu().numpy(), self.labels.cpu().numpy(), history

    def prior_weight(self) -> float:
        """Weight ``a^m`` that the starting one-hot still has in the bank after m tracked epochs."""
        return prior_weight(self.momentum, self.epochs_tracked)

    def scores(self, soft_targets: torch.Tensor, score: str = DEFAULT_SCORE) -> torch.Tensor:
        mean = self.mean_given_mass()
        if score == "mean_given_mass" and mean is None:
            score = "given_mass"
        return issue_scores(soft_targets, self.labels, score, mean)


def prediction_record(logits: torch.Tensor, targets: torch.Tensor, num_classes: int):
    """What a training pass tells the tracker about its batch: (B, K') logits (an abstain output
    beyond ``num_classes`` never votes) and (B,) labels -> ``p_iy`` (B,), the predicted class (B,)
    and its probability (B,).  Shared by the trainer and ``attach``'s hook, so both rank alike."""
    probs = logits.detach()[:, :num_classes].float().softmax(dim=1)
    top = probs.max(dim=1)
    return probs.gather(1, targets.view(-1, 1)).squeeze(1), top.indices, top.values


def prediction_targets(prediction_mass_sum, last_prediction, epochs_predicted, labels, num_classes: int,
                       last_prediction_mass=None) -> torch.Tensor:
    """An (N, K) stand-in for a bank that never moved, from the training passes alone.

    Row i holds the mean probability on the given label ``m_i`` at y_i; where the last pass
    predicted another class c_i, that class gets the probability q_i the pass gave it (at most
    ``1 - m_i``; all of ``1 - m_i`` when q_i is unknown), and what is left is spread over the
    other classes.  Its ``given_mass`` is ``m_i`` for every sample (the ranking); its argmax, the
    suggestion, is c_i where q_i > m_i; the mass on the suggestion is how sure the model was.
    """
    labels = torch.as_tensor(labels).long()
    n = labels.shape[0]
    mass = (torch.as_tensor(prediction_mass_sum, dtype=torch.float64) / max(int(epochs_predicted), 1)).float()
    other = torch.as_tensor(last_prediction).long()
    agrees = (other < 0) | (other == labels)
    q = (1 - mass) if last_prediction_mass is None else torch.minimum(
        torch.as_tensor(last_prediction_mass, dtype=torch.float32), 1 - mass)
    q = torch.where(agrees, torch.zeros_like(q), q)
    rest = (1 - mass - q).clamp_min(0)
    others = (num_classes - 1 - (~agrees).long()).clamp_min(1)     # classes besides y_i (and c_i) that share it
    t = (rest / others).view(-1, 1).expand(n, num_classes).clone()
    rows = torch.arange(n)
    t[rows[~agrees], other[~agrees]] = q[~agrees]
    t[rows, labels] = mass
    return t


def stand_in_bank(bank, given, history: dict | None):
    """The bank to rank from: ``bank`` (N, K) itself, or, when it never moved (no epoch tracked) but
    training passes were recorded, ``prediction_targets`` in its place.  Returns (bank, from_predictions)."""
    import numpy as np
    if history is not None and not int(history["epochs_tracked"]) and int(history.get("epochs_predicted", 0)):
        return prediction_targets(history["prediction_mass_sum"], history["last_prediction"],
                                  history["epochs_predicted"], given, np.asarray(bank).shape[1],
                                  history.get("last_prediction_mass")).numpy(), True
    return bank, False


def pred_probs_from_history(bank, given, history: dict | None):
    """(N, K) float64 rows summing to 1: the run's estimate of each sample's class probabilities, for
    tools that take ``pred_probs`` (cleanlab's ``find_label_issues``, ``estimate_joint``).  It is the
    bank with its one-hot start removed (``debiased_targets``: the averaged predictions P of the
    epochs since E_s), or, when the bank never moved, ``prediction_targets`` from the training passes.
    Either way these are training-pass predictions, not cross-validated ones: SAT's slow average is
    what keeps them from simply repeating memorised labels."""
    import numpy as np
    given = torch.as_tensor(np.asarray(given)).long()
    bank, _ = stand_in_bank(bank, given, history)
    # no tracked epoch: a^0 = 1 (or 0 without a one-hot start), and debiasing leaves the stand-in alone
    weight = 0.0 if history is None else prior_weight(history.get("momentum", float("nan")),
                                                      int(history["epochs_tracked"]))
    probs = debiased_targets(torch.as_tensor(np.asarray(bank), dtype=torch.float32), given, weight)
    probs = probs.double().clamp_min(0)
    return (probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12)).numpy()


def rank_from_history(bank, given, history: dict | None, score: str = DEFAULT_SCORE, **names):
    """The ranking ``sat issues`` gives: ``label_issues`` of the bank (N, K) and given labels (N,),
    read with a tracker's history (its buffers as arrays, or None).  A bank that never moved (SAT
    did not start) is replaced by ``prediction_targets``.  Returns (LabelIssues, from_predictions)."""
    from .ranking import label_issues
    mean_mass = first = None
    prior = 0.0
    bank, from_predictions = stand_in_bank(bank, given, history)
    if history is not None:
        tracked = int(history["epochs_tracked"])
        if tracked:
            mean_mass = history["given_mass_sum"] / tracked
        first = None if from_predictions else history["first_flagged_epoch"]
        prior = prior_weight(history.get("momentum", float("nan")), tracked)
    if from_predictions:
        score = "given_mass"
    return label_issues(bank, given, score, mean_given_mass=mean_mass, first_flagged_epoch=first,
                        prior_weight=prior, **names), from_predictions
