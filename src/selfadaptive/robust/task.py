"""``task=robust``: adversarial training steps, a robust-accuracy check every epoch that keeps the
best model, and the final attacks on the last and the best model (see ``training`` for each piece)."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..data import ArrayDataset
from ..engine.runfolder import write_json
from ..engine.schedules import step_seed
from ..engine.selection import BestModel
from ..engine.task import Task
from .training import (
    accuracy_under_attacks,
    adversarial_loss,
    attack_suite,
    load_model_copy,
    start_noise,
    step_size_for,
    summary_fields,
    test_robustness,
)


class RobustTask(Task):
    """Adversarial training per an ``AdversarialConfig``.

    Args:
        cfg: the ``adversarial`` config section.
        model: the network's parameters (attacks run on it in eval mode; the training passes go
            through the loop's ``forward``).
        seed: the run seed; random starts are keyed on (seed, epoch, step) over the global batch.
        shard: ``Distributed.shard``, this process's rows of a global batch.
        val, test: the held-out split that picks the best model, and the test split.
        batch_size: attack batch size; epochs: the run's epochs (the last model's epoch).
        best: keeps ``RUN/best_model.pt``; report: where ``robust.json`` goes.
        autocast: the run's autocast context (bf16 on CUDA).
    """

    #: robust overfitting shows as held-out robust accuracy that stops rising: the plateau rule reads it
    plateau_field = "val_robust_acc"

    def __init__(self, cfg, *, model: nn.Module, seed: int, shard: Callable, device: torch.device, val: ArrayDataset,
                 test: ArrayDataset, batch_size: int, epochs: int, best: BestModel, report: Path,
                 autocast: Callable = nullcontext):
        self.cfg, self.model, self.seed, self.shard, self.device = cfg, model, seed, shard, device
        self.val, self.test, self.batch_size, self.epochs = val, test, batch_size, epochs
        self.best, self.report, self.autocast = best, Path(report), autocast

    def step(self, forward, loss_fn, x, y, index, epoch, step, global_batch):
        noise = start_noise((global_batch, *x.shape[1:]), step_seed(self.seed, epoch, step), self.device,
                            normal=self.cfg.method == "trades")
        return adversarial_loss(self.model, loss_fn, x, y, index, epoch, self.cfg, forward=forward,
                                noise=self.shard(noise))

    def end_epoch(self, epoch: int, row: dict) -> None:
        """PGD-``eval_steps`` accuracy on the first ``eval_size`` validation samples; the model is kept
        in RUN/best_model.pt when it beats every earlier epoch (the test set never picks it)."""
        attacks = attack_suite(self.cfg.eps, self.cfg.eval_steps, self.cfg.eval_step_size, device=self.device)
        acc = accuracy_under_attacks(self.model, self.val, self.device, attacks, self.batch_size, self.cfg.eval_size,
                                     self.autocast)[f"pgd{self.cfg.eval_steps}"]
        self.best.offer(self.model, epoch, acc)
        row["val_robust_acc"] = acc

    def resume(self, rows: list[dict]) -> None:
        self.best.restore(rows)

    def finish(self) -> dict:
        """Score the last and the best model on the test split; writes ``robust.json`` and returns the
        summary fields."""
        cfg = self.cfg
        last = test_robustness(self.model, self.test, self.device, cfg, self.batch_size, self.autocast)
        best, best_epoch = None, self.best.epoch
        if Path(self.best.path).is_file():
            best_model, state = load_model_copy(self.model, self.best.path, self.device)
            best = test_robustness(best_model, self.test, self.device, cfg, self.batch_size, self.autocast)
            best_epoch = int(state["epoch"])
        report = {"eps": cfg.eps, "attack": f"pgd{cfg.test_steps}",
                  "step_size": step_size_for(cfg.eps, cfg.test_steps, cfg.test_step_size), "split": "test",
                  "size": len(self.test), "last": {"epoch": self.epochs - 1, **last}}
        if best is not None:
            report["best"] = {"epoch": best_epoch, "val_robust_acc": self.best.acc, **best}
        write_json(self.report, report)
        return summary_fields(last, best, best_epoch, cfg.test_steps)
