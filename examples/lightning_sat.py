"""Self-Adaptive Training inside PyTorch Lightning, with the wrong labels written when fit ends.

    pip install "selfadaptive[lightning]"
    python examples/lightning_sat.py --out lightning_run

scikit-learn's digits (ships offline) with 40% of the training labels flipped to another class; a
small MLP; SAT with the automatic start epoch.  ``lightning_run/label_issues.csv`` ranks every
training sample by how likely its label is wrong, with the suggested label.  Because the flips are
ours, the script can print how well that ranking finds them (detection AUROC).
"""
from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from selfadaptive import IndexedDataset, SelfAdaptiveLoss, corrupt_labels, detection_metrics
from selfadaptive.engine.schedules import learning_rate
from selfadaptive.integrations.lightning import LabelIssuesCallback


class SATModule(L.LightningModule):
    """Any classifier trained with a SAT criterion; the learning rate is set at each epoch's start
    from ``learning_rate(epoch)`` (cosine), a pure function of the epoch, so a resumed fit replays it."""

    def __init__(self, model: nn.Module, criterion: SelfAdaptiveLoss, lr: float = 0.05, epochs: int = 40,
                 momentum: float = 0.9, weight_decay: float = 5e-4):
        super().__init__()
        self.model, self.criterion = model, criterion
        self.lr, self.epochs, self.momentum, self.weight_decay = lr, epochs, momentum, weight_decay

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y, index = batch
        loss = self.criterion(self(x), y, index, self.current_epoch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_start(self):
        for group in self.optimizers().param_groups:
            group["lr"] = learning_rate(self.current_epoch, self.lr, self.epochs, "cosine")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


def digits_with_noise(rate: float = 0.4, seed: int = 0):
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    noise = corrupt_labels(y, 10, rate, kind="flip", seed=seed)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    return x, torch.from_numpy(noise.noisy_labels), noise


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="lightning_run")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    L.seed_everything(args.seed)
    x, labels, noise = digits_with_noise(seed=args.seed)
    loader = DataLoader(IndexedDataset(TensorDataset(x, labels)), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    criterion = SelfAdaptiveLoss(labels, num_classes=10, momentum=0.9, start_epoch="auto", variant="sce")
    callback = LabelIssuesCallback(labels, path=f"{args.out}/label_issues.csv")
    trainer = L.Trainer(max_epochs=args.epochs, default_root_dir=args.out, accelerator="auto", devices=1,
                        callbacks=[callback], enable_progress_bar=False, logger=False, enable_checkpointing=False)
    trainer.fit(SATModule(model, criterion, epochs=args.epochs), loader)
    found = detection_metrics(callback.issues.in_index_order("score"), noise.noisy_mask)
    start = criterion.start_epoch_chosen
    print(f"SAT {'started at epoch %d' % start if start is not None else 'never started (the run stayed CE)'}; "
          f"{int(callback.issues.flagged.sum())} labels flagged; detection AUROC {found['auroc']:.3f}; "
          f"table in {args.out}/label_issues.csv")
    return found


if __name__ == "__main__":
    main()
