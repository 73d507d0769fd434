"""Self-supervised pretraining (``sat pretrain``): SAT-SSL, BYOL or SimSiam, read top to bottom.

``pretrain(cfg, out)`` trains an encoder without labels (``task=ssl``, ``loss.name`` sat_ssl, byol or
simsiam) and leaves a run folder: config.yaml, metrics.jsonl (loss, collapse metrics every epoch,
kNN accuracy every ``ssl.knn_every`` epochs), checkpoint.pt (networks, optimiser, target bank,
RNG, epoch, step), soft_targets.npy (the bank, SAT-SSL) and summary.json (with the linear
probe).  The labels of the data set are used only by the probes.  Views are drawn from a
generator seeded by (seed, epoch, step), so ``pretrain(cfg, out, resume=True)`` ends
bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..config import Config, save_config
from ..data import batches, build_data, read_batches, to_float
from ..engine.checkpoint import load_checkpoint
from ..engine.devices import bf16_autocast, resolve_device
from ..engine.evaluation import logits_of
from ..engine.optimizers import build_optimizer
from ..engine.runfolder import RunDir
from ..engine.runtime import Checkpointer, StopSignals, close_run, kept_checkpoint, open_run, place_model
from ..engine.schedules import epoch_order, optim_learning_rate, step_seed
from ..errors import TrainingDiverged, UserError, first_line
from ..losses import build_loss
from ..models import build_model, strip_head
from .networks import SiameseNetwork, target_momentum_at
from .probes import collapse_metrics, collapse_warning, knn_predict, linear_probe
from .views import make_views


def build_network(cfg: Config, data) -> SiameseNetwork:
    """The encoder (``model.*`` without its class head) with BYOL's projector and predictor."""
    encoder, feature_dim = strip_head(build_model(cfg.model, data.num_classes, data.input_shape, data.mean, data.std))
    return SiameseNetwork(encoder, feature_dim, cfg.ssl.dim, cfg.ssl.hidden, target_momentum(cfg),
                          head_norm=cfg.ssl.head_norm)


def target_momentum(cfg: Config) -> float:
    """The momentum network's base tau: ``ssl.target_momentum``, or when unset 0.99 (0 for simsiam)."""
    if cfg.ssl.target_momentum is not None:
        return cfg.ssl.target_momentum
    return 0.0 if cfg.loss.name == "simsiam" else 0.99


def probe(encoder: torch.nn.Module, data, device: torch.device, cfg: Config, linear: bool = True) -> dict:
    """kNN (and linear-probe) accuracy of a frozen encoder: features of the un-augmented training
    set score the test set."""
    bs = cfg.data.eval_batch_size
    train_f, test_f = (logits_of(encoder, split.x, device, bs).cpu() for split in (data.train, data.test))
    pred = knn_predict(train_f, data.train.y, test_f, data.num_classes, cfg.ssl.knn_k, cfg.ssl.knn_temperature)
    out = {"knn_acc": (pred == data.test.y).float().mean().item()}
    if linear:
        found = linear_probe(train_f.numpy(), data.train.y.numpy(), test_f.numpy(), data.test.y.numpy())
        out.update(linear_train_acc=found["train_acc"], linear_acc=found["test_acc"])
    return out


def monitor(net: SiameseNetwork, x_monitor: torch.Tensor, device: torch.device, bs: int) -> dict:
    """Collapse metrics of the online projections of a fixed set of un-augmented training images."""
    projector = torch.nn.Sequential(net.encoder, net.projector)
    return collapse_metrics(logits_of(projector, x_monitor, device, bs))


def epoch_bank_state(loss_fn, epoch: int, lr: float) -> dict:
    """At the end of ``epoch``: feed SAT-SSL's automatic start the learning rate and read its bank's
    agreement: ``sat_started`` (whether SAT ran this epoch) and ``bank_agreement``; {} for losses without a bank."""
    if not hasattr(loss_fn, "epoch_agreement"):
        return {}
    loss_fn.observe_learning_rate(epoch, lr)
    row = {"sat_started": loss_fn.start_epoch_chosen is not None and epoch >= loss_fn.start_epoch_chosen}
    agreement = loss_fn.epoch_agreement()
    if agreement is not None:
        row["bank_agreement"] = agreement
    return row


def pretrain(cfg: Config, out: str | Path, resume: bool = False, quiet: bool = False) -> dict:
    """Pretrain per ``cfg`` into run folder ``out`` (or continue it with ``resume``); returns the
    summary.  Under torchrun-style variables every process trains its stride share of each global
    batch with the views one process would draw for it; the bank's updates are all-gathered and the
    loss is a global mean, so without batch norm (``ssl.head_norm=false`` and a BN-free encoder) the
    result equals one process's.  Rank 0 writes the folder and returns the summary."""
    if cfg.task != "ssl":
        raise UserError(f"sat pretrain trains task=ssl configs; this one has task={cfg.task} (use sat train)")
    run, dist, device, quiet = open_run(cfg, out, resume, quiet)
    data = build_data(cfg.data)
    x_train = data.train.x
    if data.unlabeled is not None:      # STL-10: the labelled and the unlabeled images, one bank row each
        x_train = torch.cat([x_train, data.unlabeled])
    if isinstance(x_train, torch.Tensor):
        x_train = x_train.to(device)
    n = len(x_train)
    placement = place_model(build_network(cfg, data), cfg, device, dist, data.input_shape, quiet)
    net, online = placement.model, placement.net        # online: the pass that trains (DDP, compiled)
    loss_fn = build_loss(cfg.loss, None, 0, num_samples=n, dim=cfg.ssl.dim, **dist.loss_collectives()).to(device)
    if cfg.loss.bank_device == "cpu" and loss_fn.bank() is not None:
        loss_fn.keep_bank_on_host()
    optimizer = build_optimizer(cfg.optim, net)
    checkpointer = Checkpointer(run.checkpoint, dist, {"model": net, "optimizer": optimizer, "loss": loss_fn},
                                what="this run's networks")
    size = cfg.ssl.view_size or data.input_shape[-1]
    monitor_rows = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))[:cfg.ssl.monitor_size].sort().values
    x_monitor = x_train[monitor_rows.to(x_train.device) if isinstance(x_train, torch.Tensor) else monitor_rows]
    epochs, bs = cfg.optim.epochs, cfg.data.batch_size
    steps_per_epoch = (n + bs - 1) // bs
    first_epoch, first_step, elapsed = 0, 0, 0.0
    loss_sum = torch.zeros((), device=device)     # this epoch's global loss sum (rank 0 holds the saved part)
    if resume:
        state = checkpointer.restore(map_location=device)
        first_epoch, first_step, elapsed = int(state["epoch"]), int(state["step"]), float(state["elapsed"])
        if dist.is_main:
            loss_sum.copy_(state["loss_sum"])
            run.keep_metrics_before(first_epoch)
    elif dist.is_main:
        run.start()         # locks the folder for this process, then checks it again
        save_config(cfg, run.config)
    dist.barrier()
    t0 = time.time()
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))

    def checkpoint(epoch: int, step: int) -> None:
        total = dist.sum_(loss_sum.clone())
        checkpointer.save(epoch, step, loss_sum=total.cpu(), elapsed=elapsed + time.time() - t0)

    with StopSignals(on_error=lambda: close_run(checkpointer, dist, run)) as stop:
        for epoch in range(first_epoch, epochs):
            lr = optim_learning_rate(cfg.optim, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            net.train()
            order = epoch_order(n, cfg.seed, epoch)
            todo = list(batches(n, bs, order))[first_step:]     # a resumed epoch skips the steps done
            positions = [dist.shard(torch.arange(len(b))) for b in todo]     # this rank's rows of each batch
            inputs = read_batches(x_train, [b[p] for b, p in zip(todo, positions)], pin_memory=device.type == "cuda")
            for step, (batch, rows, x) in enumerate(zip(todo, positions, inputs), start=first_step):
                idx, x = batch[rows].to(device), to_float(x.to(device, non_blocking=True))
                draw = torch.Generator().manual_seed(step_seed(cfg.seed, epoch, step))
                v1, v2 = (make_views(x, size, draw, rows=rows, draws=len(batch),
                                     scale=(cfg.ssl.crop_min_scale, 1.0), blur_p=cfg.ssl.blur) for _ in range(2))
                both = torch.cat([v1, v2])      # one pass per network: batch norm sees both views together
                both = placement.layout(both)
                with bf16_autocast(device, placement.amp):
                    q, z_online = online(both)
                    z = net.targets(both, z_online)
                (q1, q2), (z1, z2) = q.chunk(2), z.chunk(2)     # the losses compute in float32
                loss = loss_fn(q1, q2, z1, z2, idx, epoch)
                if dist.any(not torch.isfinite(loss)):
                    raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch} step {step} (lr {lr:g}); "
                                           f"stopped. {kept_checkpoint(run, checkpointer)}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                net.update_target(target_momentum_at(epoch * steps_per_epoch + step, epochs * steps_per_epoch,
                                                     net.target_momentum))
                # a rank's loss is its share of the global mean times the world size (see distributed)
                loss_sum += loss.detach() * len(batch) / dist.world
                if dist.any(stop.requested):
                    checkpoint(epoch, step + 1)
                    raise stop.interrupted(run.checkpoint, command="sat pretrain")
            first_step = 0
            total = dist.sum_(loss_sum.clone())
            loss_sum.zero_()
            bank_state = epoch_bank_state(loss_fn, epoch, lr)      # every rank: the loss's per-epoch state moves on
            if dist.is_main:
                row = {"epoch": epoch, "lr": lr, "train_loss": total.item() / n, **bank_state,
                       **monitor(net, x_monitor, device, bs)}
                if (cfg.ssl.knn_every and (epoch + 1) % cfg.ssl.knn_every == 0) or epoch + 1 == epochs:
                    row["knn_acc"] = probe(net.encoder, data, device, cfg, linear=False)["knn_acc"]
                row["time_s"] = elapsed + time.time() - t0
                run.append_metrics(row)
                warning = collapse_warning(row)
                if warning:
                    say(f"warning: epoch {epoch}: {warning}")
            if (epoch + 1) % cfg.log.checkpoint_every == 0 or epoch + 1 == epochs:
                checkpoint(epoch + 1, 0)
    summary = finish(cfg, run, net, loss_fn, data, device, elapsed + time.time() - t0, say) if dist.is_main else {}
    dist.barrier()
    close_run(checkpointer, dist, run)
    return summary


def finish(cfg: Config, run: RunDir, net: SiameseNetwork, loss_fn, data, device, wall: float, say) -> dict:
    """Final probes and the summary."""
    rows = run.read_metrics()
    last = rows[-1]
    summary = {"loss": cfg.loss.name, "data": cfg.data.name, "model": cfg.model.name, "seed": cfg.seed,
               "epochs": last["epoch"] + 1, "num_pretrain": len(data.train) + (0 if data.unlabeled is None else len(data.unlabeled)), "num_train": len(data.train),
               "train_loss_last": last["train_loss"],
               **{k: last[k] for k in ("embedding_std", "embedding_std_ratio", "effective_rank")}}
    summary.update(probe(net.encoder, data, device, cfg, linear=cfg.ssl.linear_probe))
    bank = loss_fn.bank()
    if bank is not None:
        summary.update(start_epoch=loss_fn.start_epoch, start_epoch_chosen=loss_fn.start_epoch_chosen)
        run.write_soft_targets(bank)
        summary["bank_bytes"] = bank.numel() * bank.element_size()
    summary["wall_time_s"] = wall
    run.write_summary(summary)
    line = f"{cfg.loss.name.upper()}: kNN accuracy {100 * summary['knn_acc']:.2f}%"
    if "linear_acc" in summary:
        line += f", linear probe {100 * summary['linear_acc']:.2f}%"
    line += f"; effective rank {summary['effective_rank']:.1f}"
    if summary.get("start_epoch") == "auto":        # set, or the loss's default
        chosen = summary["start_epoch_chosen"]
        line += "\n  start_epoch=auto: " + (f"SAT started at epoch {chosen}, the epoch after the learning rate halved"
                                           if chosen is not None else "SAT never started (the learning rate never fell "
                                           "to half its peak), so the run is BYOL")
    say(line + f"\nrun folder: {run.path}")
    return summary


def probe_run(run_path: str | Path, checkpoint: str | Path | None = None, linear: bool = True,
              knn_k: int | None = None, device: str | None = None) -> dict:
    """``sat probe RUN``: kNN and linear-probe accuracy of a pretraining run's encoder, from
    RUN/checkpoint.pt or any other checkpoint of the same networks; written to RUN/probe.json."""
    from dataclasses import replace

    from ..config import load_config
    run = RunDir(run_path).require()
    cfg = load_config(run.config)
    if cfg.task != "ssl":
        raise UserError(f"{run.path} is not a pretraining run (task={cfg.task}); sat eval scores classifiers")
    if knn_k is not None:
        if knn_k < 1:
            raise UserError(f"--knn-k must be >= 1, got {knn_k}")
        cfg = replace(cfg, ssl=replace(cfg.ssl, knn_k=knn_k))
    dev = resolve_device(device or cfg.device)
    data = build_data(cfg.data)
    net = build_network(cfg, data).to(dev)
    path = Path(checkpoint) if checkpoint else run.checkpoint
    state = load_checkpoint(path, map_location=dev)
    try:
        net.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{path} does not hold this run's networks: {first_line(e)}") from None
    result = {"checkpoint": str(path), "epoch": int(state.get("epoch", -1)), "knn_k": cfg.ssl.knn_k,
              **probe(net.encoder, data, dev, cfg, linear=linear)}
    run.write_json(run.path / "probe.json", result)
    return result
