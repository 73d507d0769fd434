"""Self-Adaptive Training with the Hugging Face ``Trainer``, keeping the index column.

    pip install selfadaptive transformers accelerate
    python examples/hf_trainer.py --out hf_run

SAT keys each sample's soft target on its dataset index, so the batch must carry an ``index``
column and the Trainer must not drop it: ``remove_unused_columns=False``.  ``SATTrainer`` overrides
``compute_loss`` to call the SAT criterion with the epoch; a ``LabelIssueTracker`` attached to the
criterion ranks the labels, and ``label_issues.csv`` is written when training ends.

The data here are scikit-learn's digits (offline) with 40% of the labels flipped, and the model a
small MLP; swap in your own ``datasets.Dataset`` (add the column with
``ds.map(lambda row, i: {"index": i}, with_indices=True)``) and your own model.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments

from selfadaptive import LabelIssueTracker, SelfAdaptiveLoss, corrupt_labels, detection_metrics
from selfadaptive.engine.schedules import learning_rate


class SATTrainer(Trainer):
    """A ``Trainer`` whose loss is a per-sample SAT criterion: the batch gives ``labels`` and ``index``,
    every other key goes to the model."""

    def __init__(self, *args, sat_loss: SelfAdaptiveLoss, labels, **kwargs):
        super().__init__(*args, **kwargs)
        self.sat_loss = sat_loss.to(self.args.device)
        self.tracker = LabelIssueTracker.attach(self.sat_loss, labels)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        if "index" not in inputs or "labels" not in inputs:
            raise ValueError(f"the batch has {sorted(inputs)}, no 'labels' and 'index': give every row its index "
                             "and pass TrainingArguments(remove_unused_columns=False), or the Trainer drops both")
        labels, index = inputs.pop("labels"), inputs.pop("index")
        logits = model(**inputs)
        # state.epoch is epochs done as a float (e + steps/steps_per_epoch); its floor is this epoch
        epoch = int(math.floor(self.state.epoch or 0.0))
        loss = self.sat_loss(logits, labels, index, epoch)
        return (loss, logits) if return_outputs else loss


class EpochCosine(torch.optim.lr_scheduler.LRScheduler):
    """The learning rate of ``learning_rate(epoch)`` (cosine over epochs, as ``sat train``) under a
    Trainer that steps its scheduler after every optimiser step.  The epoch comes from the Trainer
    (``EpochStart``), not from counting steps: gradient accumulation and a last partial
    accumulation change the number of optimiser steps in an epoch."""

    def __init__(self, optimizer, epochs: int):
        self.epochs, self.epoch = epochs, 0
        super().__init__(optimizer)

    def get_lr(self):
        return [learning_rate(self.epoch, base, self.epochs, "cosine") for base in self.base_lrs]

    def set_epoch(self, epoch: int) -> None:
        """Move to ``epoch`` now: the next optimiser step already uses its rate."""
        self.epoch = epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class EpochStart(TrainerCallback):
    def on_epoch_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        if isinstance(lr_scheduler, EpochCosine):
            lr_scheduler.set_epoch(int(round(state.epoch or 0.0)))     # epochs done so far: this epoch's number


class WriteLabelIssues(TrainerCallback):
    def __init__(self, trainer: SATTrainer, path: Path):
        self.trainer, self.path = trainer, Path(path)

    def on_train_end(self, args, state, control, **kwargs):
        self.trainer.issues = self.trainer.tracker.label_issues()
        if state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.trainer.issues.to_csv(self.path)


class DigitsMLP(nn.Module):
    def __init__(self, width: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))

    def forward(self, x):
        return self.net(x)


class Rows(torch.utils.data.Dataset):
    """Rows as dicts, the way a Hugging Face dataset in torch format yields them."""

    def __init__(self, x, labels):
        self.x, self.labels = x, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.labels[i], "index": i}


def build_trainer(model, train_set, labels, out, *, epochs, lr=0.05, batch_size=64, momentum=0.9,
                  weight_decay=5e-4, start_epoch="auto", sat_momentum=0.9, num_classes=10, seed=0,
                  gradient_accumulation_steps=1):
    criterion = SelfAdaptiveLoss(torch.as_tensor(labels), num_classes, momentum=sat_momentum, start_epoch=start_epoch,
                                 variant="sce")
    args = TrainingArguments(output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
                             gradient_accumulation_steps=gradient_accumulation_steps,
                             remove_unused_columns=False,       # keep "index": SAT needs it
                             max_grad_norm=0.0, save_strategy="no", report_to="none", logging_strategy="no",
                             disable_tqdm=True, use_cpu=not torch.cuda.is_available(), seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    trainer = SATTrainer(model=model, args=args, train_dataset=train_set, sat_loss=criterion, labels=labels,
                         optimizers=(optimizer, EpochCosine(optimizer, epochs)))
    trainer.add_callback(EpochStart())
    trainer.add_callback(WriteLabelIssues(trainer, Path(out) / "label_issues.csv"))
    return trainer


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="hf_run")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    noise = corrupt_labels(y, 10, 0.4, kind="flip", seed=args.seed)
    labels = torch.from_numpy(noise.noisy_labels)
    torch.manual_seed(args.seed)
    trainer = build_trainer(DigitsMLP(), Rows(torch.tensor(x / 16.0, dtype=torch.float32), labels), labels,
                            args.out, epochs=args.epochs, seed=args.seed)
    trainer.train()
    found = detection_metrics(trainer.issues.in_index_order("score"), noise.noisy_mask)
    start = trainer.sat_loss.start_epoch_chosen
    print(f"SAT {'started at epoch %d' % start if start is not None else 'never started (the run stayed CE)'}; "
          f"{int(trainer.issues.flagged.sum())} labels flagged; detection AUROC {found['auroc']:.3f}; "
          f"table in {args.out}/label_issues.csv")
    return found


if __name__ == "__main__":
    main()
