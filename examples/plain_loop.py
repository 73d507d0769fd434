"""Self-Adaptive Training in a plain PyTorch loop, with the wrong labels ranked at the end.

    python examples/plain_loop.py --out plain_run

Three additions to an ordinary loop: the dataset yields each sample's index (``IndexedDataset``),
the loss is ``SelfAdaptiveLoss`` called with that index and the epoch, and a ``LabelIssueTracker``
attached to the loss keeps the per-sample history from which ``label_issues.csv`` is ranked (the
ranking ``sat issues`` gives for the same training).  Under ``torchrun`` the loss and the tracker
gather across processes by themselves.

The data are scikit-learn's digits (offline) with 40% of the labels flipped; swap in your own.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from selfadaptive import IndexedDataset, LabelIssueTracker, SelfAdaptiveLoss, corrupt_labels, detection_metrics
from selfadaptive.engine.schedules import learning_rate


def train_one_epoch(model, criterion, optimizer, loader, epoch: int, lr: float, epochs: int) -> float:
    for group in optimizer.param_groups:        # cosine, stepped once per epoch: a pure function of it
        group["lr"] = learning_rate(epoch, lr, epochs, "cosine")
    model.train()
    total, count = 0.0, 0
    for x, y, index in loader:
        loss = criterion(model(x), y, index, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, count = total + float(loss.detach()) * len(y), count + len(y)
    return total / max(count, 1)


def fit(model, loader, labels, num_classes: int, *, epochs: int, lr: float = 0.05, momentum: float = 0.9,
        weight_decay: float = 5e-4, start_epoch="auto", sat_momentum: float = 0.9):
    """Train ``model`` with SAT on ``loader`` (batches of ``(x, y, index)``); returns the criterion and
    the ``LabelIssueTracker`` following it."""
    criterion = SelfAdaptiveLoss(labels, num_classes, momentum=sat_momentum, start_epoch=start_epoch, variant="sce")
    tracker = LabelIssueTracker.attach(criterion, labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    for epoch in range(epochs):
        train_one_epoch(model, criterion, optimizer, loader, epoch, lr, epochs)
    return criterion, tracker


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="plain_run")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    noise = corrupt_labels(y, 10, 0.4, kind="flip", seed=args.seed)
    labels = torch.from_numpy(noise.noisy_labels)
    torch.manual_seed(args.seed)
    loader = DataLoader(IndexedDataset(TensorDataset(torch.tensor(x / 16.0, dtype=torch.float32), labels)),
                        batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    criterion, tracker = fit(model, loader, labels, 10, epochs=args.epochs)
    issues = tracker.label_issues()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    issues.to_csv(Path(args.out) / "label_issues.csv")
    found = detection_metrics(issues.in_index_order("score"), noise.noisy_mask)
    start = criterion.start_epoch_chosen
    print(f"SAT {'started at epoch %d' % start if start is not None else 'never started (the run stayed CE)'}; "
          f"{int(issues.flagged.sum())} labels flagged; detection AUROC {found['auroc']:.3f}; "
          f"table in {args.out}/label_issues.csv")
    return found


if __name__ == "__main__":
    main()
