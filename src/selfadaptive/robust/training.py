"""``task=robust``: one adversarial training step, robust accuracy, and the best-checkpoint rule.

Training (``adversarial.method``):

* ``trades``: x' = PGD on KL(p(x) || p(x')) from x + 0.001 N(0, 1), in eval mode; the loss is
  ``TradesLoss`` (natural term CE, or SAT for TRADES+SAT) on train-mode passes of x and x'.
* ``pgd``: Madry et al.'s PGD training, x' = PGD on CE from a uniform start; the configured loss
  is applied to f(x').

Every epoch a PGD-``eval_steps`` attack on the first ``eval_size`` validation samples gives
``val_robust_acc``; the model with the highest is kept in ``RUN/best_model.pt``.  At the end the
last and the best model are scored on the test split, clean, FGSM and PGD-``test_steps``, into
``RUN/robust.json`` and the summary.  All attacks see inputs in [0, 1].
"""
from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Callable

import torch
from torch import nn

from ..data import ArrayDataset, batches, to_float
from ..engine.checkpoint import load_checkpoint
from ..engine.evaluation import eval_mode
from .attacks import fgsm, pgd

#: seeds the random starts of evaluation attacks, so that every epoch faces the same draw
EVAL_ATTACK_SEED = 1234


def step_size_for(eps: float, steps: int, step_size: float = 0.0) -> float:
    """``step_size``, or Madry et al.'s 2.5 * eps / steps when it is 0."""
    return step_size if step_size > 0 else 2.5 * eps / steps


def start_noise(shape: tuple[int, ...], seed: int, device: torch.device, normal: bool) -> torch.Tensor:
    """The unscaled random-start draw for a *global* batch of ``shape``: N(0, 1) or U(-1, 1) from a
    generator seeded with ``seed`` (the trainer uses the run seed, epoch and step).  Each process
    takes its shard, so one process and several draw the same starts, and a resumed run too."""
    g = torch.Generator(device=device).manual_seed(seed)
    if normal:
        return torch.randn(shape, generator=g, device=device)
    return torch.rand(shape, generator=g, device=device) * 2 - 1


def adversarial_loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                     epoch: int, cfg, forward: Callable | None = None,
                     noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one adversarial training step and the logits the training accuracy is read from.

    x: (B, ...) in [0, 1]; y, index: (B,).  ``cfg`` is an ``AdversarialConfig``.  The attack runs on
    ``model``; the training passes go through ``forward`` (default ``model``; the trainer passes its
    DDP wrapper and memory layout).  ``noise``: the random start's draw (``start_noise``; default: the
    global RNG).  For TRADES the logits are the clean ones (what SAT's bank follows); for PGD
    training, the adversarial ones.
    """
    forward = forward or model
    if cfg.method == "trades":
        x_adv = pgd(model, x, eps=cfg.eps, step_size=cfg.step_size, steps=cfg.steps, start="normal", objective="kl",
                    noise=noise)
        logits = forward(x)
        logits_adv = forward(x_adv)
        return loss_fn(logits, y, index, epoch, logits_adv), logits
    if cfg.method == "pgd":
        x_adv = pgd(model, x, y, eps=cfg.eps, step_size=cfg.step_size, steps=cfg.steps, start="uniform", objective="ce",
                    noise=noise)
        logits_adv = forward(x_adv)
        return loss_fn(logits_adv, y, index, epoch), logits_adv
    raise ValueError(f"unknown adversarial.method {cfg.method!r}")


def attack_suite(eps: float, steps: int, step_size: float = 0.0, with_fgsm: bool = False, seed: int = EVAL_ATTACK_SEED,
                 device: torch.device | str = "cpu") -> dict[str, Callable]:
    """Named attacks ``fn(model, x, y) -> x_adv`` for ``accuracy_under_attacks``: ``pgd{steps}``
    (uniform start from a generator seeded with ``seed``) and, optionally, ``fgsm``."""
    generator = torch.Generator(device=device).manual_seed(seed)
    size = step_size_for(eps, steps, step_size)
    suite = {}
    if with_fgsm:
        suite["fgsm"] = lambda m, x, y: fgsm(m, x, y, eps=eps)
    suite[f"pgd{steps}"] = lambda m, x, y: pgd(m, x, y, eps=eps, step_size=size, steps=steps, start="uniform",
                                               generator=generator)
    return suite


def accuracy_under_attacks(model: nn.Module, dataset: ArrayDataset, device: torch.device, attacks: dict[str, Callable],
                           batch_size: int, limit: int = 0, autocast=nullcontext) -> dict[str, float]:
    """Accuracy on clean inputs (``"clean"``) and under each attack, on the first ``limit`` samples
    of ``dataset`` (all when 0).  The model runs in eval mode; its mode is restored."""
    n = len(dataset) if not limit else min(limit, len(dataset))
    correct = {name: 0 for name in ("clean", *attacks)}
    with eval_mode(model):
        for idx in batches(n, batch_size):
            x = to_float(dataset.x[idx].to(device, non_blocking=True))
            y = dataset.y[idx].to(device)
            with autocast():
                with torch.no_grad():
                    correct["clean"] += int((model(x).argmax(dim=1) == y).sum())
                for name, attack in attacks.items():
                    x_adv = attack(model, x, y)
                    with torch.no_grad():
                        correct[name] += int((model(x_adv).argmax(dim=1) == y).sum())
    return {name: c / n if n else float("nan") for name, c in correct.items()}


def load_model_copy(model: nn.Module, path, device) -> tuple[nn.Module, dict]:
    """A copy of ``model`` holding the weights saved at ``path`` (a checkpoint with ``"model"``)."""
    state = load_checkpoint(path, map_location=device)
    other = copy.deepcopy(model)
    other.load_state_dict(state["model"])
    return other, state


def test_robustness(model: nn.Module, dataset: ArrayDataset, device: torch.device, cfg, batch_size: int,
                    autocast=nullcontext, limit: int = 0) -> dict[str, float]:
    """Clean, FGSM and PGD-``test_steps`` accuracy on ``dataset`` at ``cfg.eps`` (an ``AdversarialConfig``)."""
    attacks = attack_suite(cfg.eps, cfg.test_steps, cfg.test_step_size, with_fgsm=True, device=device)
    return accuracy_under_attacks(model, dataset, device, attacks, batch_size, limit, autocast)


def summary_fields(last: dict[str, float], best: dict[str, float] | None, best_epoch: int, steps: int) -> dict:
    """Flat summary.json fields from ``test_robustness`` results of the last and the best model."""
    out = {"robust_attack": f"pgd{steps}", "test_clean_acc_last": last["clean"], "test_fgsm_acc_last": last["fgsm"],
           "test_robust_acc_last": last[f"pgd{steps}"]}
    if best is not None:
        out.update(best_robust_epoch=best_epoch, test_clean_acc_best=best["clean"], test_fgsm_acc_best=best["fgsm"],
                   test_robust_acc_best=best[f"pgd{steps}"])
    return out


__all__ = ["start_noise", "adversarial_loss", "attack_suite", "accuracy_under_attacks",
           "test_robustness", "step_size_for", "summary_fields", "load_model_copy"]
