"""The supervised training loop: one function, read top to bottom.

``train(cfg, out)`` builds data, noise, model, loss and optimiser from a ``Config``, trains, and
leaves a self-describing run folder (see ``runfolder``).  ``train(cfg, out, resume=True)``
continues from ``out/checkpoint.pt`` and ends bit-identical (on the same device) to a run that
was never stopped: model, optimiser, target bank, RNG states, data order, epoch and step are all
restored.  SIGINT/SIGTERM save a checkpoint at the current step and raise ``Interrupted``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import Config
from ..data import batches, read_batches, to_float
from ..data.augment import build_augment
from ..engine.evaluation import evaluate_on
from ..engine.runtime import StopSignals, kept_checkpoint
from ..engine.schedules import epoch_order, optim_learning_rate
from ..errors import TrainingDiverged
from ..losses.warm_up import WarmUp
from .records import epoch_row, log_row, observe_plateau_field, progress_line, summarize
from .session import Session, merge_epoch_state, record_pass, setup


def train(cfg: Config, out: str | Path, resume: bool = False, model: torch.nn.Module | None = None,
          data=None, quiet: bool = False, force: bool = False) -> dict:
    """Train per ``cfg`` into run folder ``out``; returns the summary dict (also in summary.json).
    Under torchrun-style variables each process trains its share of every global batch (see
    ``distributed``); rank 0 writes the folder and returns the summary, the others return ``{}``.
    ``force`` resumes a run whose metrics.jsonl lost epochs the checkpoint has done."""
    s: Session = setup(cfg, out, resume=resume, model=model, data=data, quiet=quiet, force=force)
    model, loss_fn, optimizer, device, dist, task = s.model, s.loss_fn, s.optimizer, s.device, s.dist, s.task
    x_train, y_train, n, k = s.x_train, s.y_train, len(s.y_train), s.data.num_classes
    epochs, bs = cfg.optim.epochs, cfg.data.batch_size
    augment = build_augment(cfg.data.augment, cfg.data.crop_padding)
    # disable=None: tqdm turns itself off when stderr is not a terminal (logs, CI)
    bar = tqdm(total=epochs, initial=s.epoch, disable=True if s.quiet or not cfg.log.progress else None,
               unit="epoch", leave=False, mininterval=0.5)

    with StopSignals(on_error=s.close) as stop:
        for epoch in range(s.epoch, epochs):
            lr = optim_learning_rate(cfg.optim, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if (sat := WarmUp.within(loss_fn)) is not None:
                sat.observe_learning_rate(epoch, lr)    # before its first step: the lr_drop rule, a late start
            model.train()
            order = epoch_order(n, cfg.seed, epoch)
            global_batches = list(batches(n, bs, order))[s.step:]   # a resumed epoch skips the steps done
            shards = [dist.shard(b) for b in global_batches]            # this rank's part of each global batch
            inputs = read_batches(x_train, shards, pin_memory=device.type == "cuda")
            for step, (batch, shard, x) in enumerate(zip(global_batches, shards, inputs), start=s.step):
                idx = shard.to(device, non_blocking=True)
                x, y = x.to(device, non_blocking=True), y_train[idx]
                x = to_float(augment(x) if augment is not None else x)   # crops and flips move uint8 pixels
                with s.autocast():             # the losses compute in float32
                    loss, logits = task.step(s.forward, loss_fn, x, y, idx, epoch, step, len(batch))
                if dist.any(not torch.isfinite(loss)):
                    value = loss.item() if not torch.isfinite(loss) else "non-finite on another rank"
                    raise TrainingDiverged(
                        f"loss became {value} at epoch {epoch} step {step} (lr {lr:g}); stopped. "
                        f"{kept_checkpoint(s.run, s.checkpointer)}; try a lower optim.lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                pred = logits.detach()[:, :k].argmax(dim=1)         # an abstain output never votes
                s.train_pred[idx] = pred
                if s.tracker is not None:               # label issues even if SAT never starts
                    record_pass(s, logits, idx)
                # a rank's loss is its share of the global mean times the world size (see distributed)
                s.sums += torch.stack([loss.detach() * len(batch) / dist.world, (pred == y).sum().float(),
                                       torch.tensor(float(len(idx)), device=device)])
                if dist.any(stop.requested):
                    merge_epoch_state(s, order, step + 1)
                    s.save_checkpoint(epoch, step + 1)
                    raise stop.interrupted(s.run.checkpoint)
            s.step = 0
            merge_epoch_state(s, order, -1)
            if s.tracker is not None:
                s.tracker.update_predictions(s.train_given_prob, s.train_pred, s.train_pred_prob)
                s.tracker.update(loss_fn.bank(), epoch)
            with s.autocast():
                test, val, val_noisy = (evaluate_on(model, split, device, cfg.data.eval_batch_size, k,
                                                    task.eval_metrics, dist)
                                        for split in (s.data.test, s.data.val, s.val_noisy))
            row = epoch_row(s, epoch, lr, test, val, val_noisy)
            task.end_epoch(epoch, row)          # e.g. robust: PGD on held-out data keeps the best model
            observe_plateau_field(s, task, epoch, row)
            row["time_s"] = s.wall_time()
            log_row(s, row)
            progress_line(s, row, epochs)
            if s.selector is not None:          # model selection on the data's own (noisy) labels
                s.selector.offer(model, epoch, row[s.selector.key])
            s.sums.zero_()
            if (epoch + 1) % cfg.log.checkpoint_every == 0 or epoch + 1 == epochs:
                s.save_checkpoint(epoch + 1, 0)
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", test=f"{row['test_acc']:.3f}")
    bar.close()
    if s.tensorboard is not None:
        s.tensorboard.close()
    summary = {}
    if dist.is_main:
        summary = summarize(s, task.finish())
    dist.barrier()
    s.close()
    return summary
