"""Everything a supervised run is built from: the ``Session`` of live objects, ``setup`` (new or
resumed) and the data-parallel merge of per-epoch counters.  Kept out of ``loop.py`` so that the
loop itself reads top to bottom."""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field

import torch

from ..config import Config, LossConfig, save_config
from ..data import DataBundle, ImageFiles, batches, build_data
from ..engine.devices import bf16_autocast
from ..engine.distributed import Distributed
from ..engine.optimizers import build_optimizer
from ..engine.runfolder import RunDir
from ..engine.runtime import Checkpointer, Placement, close_run, open_run, place_model, tensorboard_writer
from ..engine.schedules import rescale_for_width
from ..engine.selection import BestModel
from ..engine.task import Task
from ..errors import UserError
from ..issues import LabelIssueTracker
from ..issues.tracker import prediction_record
from ..losses import IndexedLoss, TradesLoss, build_loss, loss_spec
from ..losses.auto_start import ROBUST_MIN_FIT
from ..losses.warm_up import WarmUp
from ..models import build_classifier
from ..noise.labels import LabelNoise
from ..robust.task import RobustTask
from ..selective.task import SelectiveTask
from .noise import describe_noise, make_noise, noisy_validation


@dataclass
class Session:
    """The live objects and counters of one training run."""

    cfg: Config
    run: RunDir
    device: torch.device
    data: DataBundle
    noise: LabelNoise
    placement: Placement            # model (parameters), net (what the step calls), precision, layout
    loss_fn: IndexedLoss
    optimizer: torch.optim.Optimizer
    task: Task                      # the task's step, end-of-epoch work and finish
    checkpointer: Checkpointer
    x_train: torch.Tensor           # (N, ...) training inputs on device, stored dtype (ImageFiles: on disk)
    y_train: torch.Tensor           # (N,) given (noisy) labels on device
    clean_labels: torch.Tensor      # (N,) on device
    noisy_mask: torch.Tensor        # (N,) bool on device
    train_pred: torch.Tensor        # (N,) last training-pass prediction of each sample, -1 if unseen
    train_given_prob: torch.Tensor  # (N,) last training-pass probability on the given label (label issues)
    train_pred_prob: torch.Tensor   # (N,) last training-pass probability of the predicted class (label issues)
    sums: torch.Tensor              # (3,) loss sum, correct, seen in the current epoch
    tracker: LabelIssueTracker | None = None    # per-epoch soft-target history, for losses with a bank
    epoch: int = 0                  # first epoch to run
    step: int = 0                   # first step of that epoch to run
    elapsed: float = 0.0            # seconds spent before this process (resume)
    t0: float = field(default_factory=time.time)
    quiet: bool = False
    dist: Distributed = field(default_factory=Distributed)
    selector: BestModel | None = None   # keeps the epoch with the best noisy-label validation accuracy
    tensorboard: object | None = None   # a SummaryWriter when log.tensorboard (rank 0)
    val_noisy: object | None = None     # the validation split corrupted like the training set (dynamics)
    progress_lines: bool = False        # one line per epoch (at most every PROGRESS_EVERY_S) when not on a terminal
    last_progress: float = 0.0
    pending: list = field(default_factory=list)     # (logits (B, K'), index (B,)) not yet in train_*_prob
    test_per_class: list | None = None  # (K,) test accuracy per class at the latest epoch (None: no class samples)

    @property
    def model(self) -> torch.nn.Module:
        return self.placement.model

    def autocast(self):
        return bf16_autocast(self.device, self.placement.amp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training pass: the model as the step calls it (DDP, compiled), in the run's memory layout."""
        return self.placement.net(self.placement.layout(x))

    def close(self) -> None:
        """At the end, or on any error (``close_run``)."""
        close_run(self.checkpointer, self.dist, self.run)

    def wall_time(self) -> float:
        return self.elapsed + time.time() - self.t0

    def save_checkpoint(self, epoch: int, step: int) -> None:
        """Everything a resume needs, at ``epoch`` with ``step`` steps of it done (a collective)."""
        self.checkpointer.save(epoch, step, sums=self.sums.cpu(), train_pred=self.train_pred.cpu(),
                               train_given_prob=self.train_given_prob.cpu(), train_pred_prob=self.train_pred_prob.cpu(),
                               elapsed=self.wall_time())


def loss_config_for_width(cfg: Config) -> LossConfig:
    """``cfg.loss`` with SAT's momentum and start epoch rescaled from ``loss.reference_width`` to this
    run's ``model.base_width`` (``schedules.rescale_for_width``); unchanged without a reference width."""
    loss = cfg.loss
    if not loss.reference_width:
        return loss
    options = loss_spec(loss.name).options(loss)
    momentum, start_epoch = rescale_for_width(options["momentum"], options["start_epoch"], cfg.model.base_width,
                                              loss.reference_width)
    return dataclasses.replace(loss, momentum=momentum, start_epoch=start_epoch)


def loss_config_for_task(cfg: Config) -> LossConfig:
    """``loss_config_for_width``; under ``task=robust`` ``start_epoch=auto`` defaults to the ``lr_drop`` rule
    and the fit gate at ``ROBUST_MIN_FIT`` (adversarial training takes its labels as clean, so the memorisation
    gate is off; ``auto_start``),
    and SAT to the paper's CE form (the SCE form, the default for noisy labels, was not measured there)."""
    loss = loss_config_for_width(cfg)
    if cfg.task == "robust":
        loss = dataclasses.replace(loss, auto_rule=loss.auto_rule or "lr_drop", variant=loss.variant or "ce",
                                   auto_min_fit=ROBUST_MIN_FIT if loss.auto_min_fit is None else loss.auto_min_fit,
                                   auto_min_concentration=loss.auto_min_concentration or 0.0)
    return loss


def selection_key(noise: LabelNoise, data: DataBundle, val_noisy) -> str | None:
    """The metrics-row field that picks a model without clean labels: accuracy on a validation split
    carrying the data's own labels (``val_acc``: no noise injected, or the data's own noise), or the
    validation copy corrupted like the training labels (``val_acc_noisy``: synthetic label noise).
    None without a validation split, or when its labels are clean (image corruptions, CIFAR-N)."""
    if data.val is None or len(data.val) == 0:
        return None
    if noise.kind in ("none", "given") or noise.rate == 0:
        return "val_acc"
    if noise.kind in ("uniform", "flip", "asymmetric", "instance") and val_noisy is not None:
        return "val_acc_noisy"
    return None


def build_task(cfg: Config, run: RunDir, data: DataBundle, model: torch.nn.Module, dist: Distributed,
               device: torch.device, autocast) -> Task:
    """The task object ``cfg.task`` names (classify, selective or robust)."""
    if cfg.task == "selective":
        return SelectiveTask()
    if cfg.task == "robust":
        return RobustTask(cfg.adversarial, model=model, seed=cfg.seed, shard=dist.shard, device=device, val=data.val,
                          test=data.test, batch_size=cfg.data.batch_size, epochs=cfg.optim.epochs,
                          best=BestModel(run.best_model, "val_robust_acc", write=dist.is_main), report=run.robust,
                          autocast=autocast)
    return Task()


def setup(cfg: Config, out, resume: bool, model=None, data=None, quiet: bool = False,
          force: bool = False) -> Session:
    """Build (or restore, with ``resume``) every object of a run.  Under torchrun-style variables
    (WORLD_SIZE > 1) every rank builds the same run; only rank 0 writes to the folder."""
    if cfg.task == "ssl":
        raise UserError("task=ssl is self-supervised pretraining: run it with sat pretrain")
    run, dist, device, quiet = open_run(cfg, out, resume, quiet)
    data = data if data is not None else build_data(cfg.data)
    k = data.num_classes
    if cfg.data.augment != "none" and len(data.input_shape) != 3:
        raise UserError(f"data.augment={cfg.data.augment} needs images; this data has input shape {data.input_shape}")
    if resume:
        noise = LabelNoise.load(run.noise)
        if noise.noisy_labels.shape[0] != len(data.train):
            raise UserError(f"{run.noise} holds {noise.noisy_labels.shape[0]} labels but the training set has {len(data.train)}")
    else:
        noise = make_noise(cfg, data)       # checks a reused noise.file against this training set
    labels = torch.from_numpy(noise.noisy_labels)
    x_train = data.train.x
    if not isinstance(x_train, ImageFiles):     # streamed images stay on disk; the rest moves to the device
        x_train = torch.from_numpy(noise.apply_images(x_train.numpy())).to(device)
    if model is None:
        model = build_classifier(cfg.model, loss_spec(cfg.loss.name).head, k, data.input_shape, data.mean, data.std)
    placement = place_model(model, cfg, device, dist, data.input_shape, quiet)
    collectives = dist.loss_collectives()
    loss_fn = build_loss(loss_config_for_task(cfg), labels, k, **collectives)
    if cfg.task == "robust" and cfg.adversarial.method == "trades":
        loss_fn = TradesLoss(loss_fn, beta=cfg.adversarial.beta, reduce=collectives["reduce"])
    loss_fn = loss_fn.to(device)
    if cfg.loss.bank_device == "cpu":
        loss_fn.keep_bank_on_host()
    optimizer = build_optimizer(cfg.optim, placement.model)
    tracker = LabelIssueTracker.for_loss(labels, loss_fn)
    if tracker is not None:
        tracker.to(loss_fn.bank().device)      # the history lives beside the bank
    parts = {"model": placement.model, "optimizer": optimizer, "loss": loss_fn}
    if tracker is not None:
        parts["tracker"] = tracker
    n = len(labels)
    s = Session(cfg=cfg, run=run, device=device, data=data, noise=noise, placement=placement, loss_fn=loss_fn,
                optimizer=optimizer, task=Task(), checkpointer=Checkpointer(run.checkpoint, dist, parts),
                x_train=x_train, y_train=labels.to(device),
                clean_labels=torch.from_numpy(noise.clean_labels).to(device),
                noisy_mask=torch.from_numpy(noise.noisy_mask).to(device),
                train_pred=torch.full((n,), -1, dtype=torch.long, device=device),
                train_given_prob=torch.zeros(n, device=device), train_pred_prob=torch.zeros(n, device=device),
                sums=torch.zeros(3, device=device), tracker=tracker, quiet=quiet, dist=dist)
    s.task = build_task(cfg, run, data, placement.model, dist, device, s.autocast)
    s.progress_lines = cfg.log.progress and not quiet and not sys.stderr.isatty()
    sat = WarmUp.within(loss_fn)        # SAT, TRADES+SAT's natural term, or selective SAT
    start = sat.start_epoch if sat is not None else None
    if isinstance(start, int) and start >= cfg.optim.epochs:
        what = ("its abstain class is never trained" if cfg.task == "selective"
                else "its targets, and so sat issues, stay at the given labels")
        say(s, f"warning: loss.start_epoch={start} but the run has {cfg.optim.epochs} epochs, so SAT never starts and "
               f"this is plain cross-entropy ({what}); use loss.start_epoch=auto or a start below optim.epochs")
    s.val_noisy = noisy_validation(cfg, data, noise)
    key = selection_key(noise, data, s.val_noisy)
    if key is not None:
        s.selector = BestModel(run.selected_model, key, write=dist.is_main)
    if resume:
        state = s.checkpointer.restore(map_location=device)
        s.epoch, s.step, s.elapsed = int(state["epoch"]), int(state["step"]), float(state["elapsed"])
        if dist.is_main:        # the saved sums are global: count them once
            s.sums.copy_(state["sums"])
        s.train_pred.copy_(state["train_pred"])
        logged = {r.get("epoch") for r in run.read_metrics()}
        missing = [e for e in range(s.epoch) if e not in logged]
        if missing and not force:
            which = f"epoch {missing[0]}" if len(missing) == 1 else f"{len(missing)} epochs ({missing[0]}..{missing[-1]})"
            raise UserError(f"{run.metrics} lacks {which} of the {s.epoch} the checkpoint has "
                            f"done, so the summary (best epoch, selected model) would disagree with an uninterrupted "
                            f"run; pass --force to resume anyway without them")
        for name in ("train_given_prob", "train_pred_prob"):    # absent from checkpoints written before them
            if name in state:
                getattr(s, name).copy_(state[name])
        if dist.is_main:
            run.keep_metrics_before(s.epoch)
        dist.barrier()
        s.task.resume(run.read_metrics())
        if s.selector is not None:
            s.selector.restore(run.read_metrics())
        say(s, f"resuming {run.path} at epoch {s.epoch}" + (f", step {s.step}" if s.step else ""))
    elif dist.is_main:
        run.start()         # locks the folder for this process, then checks it again
        save_config(cfg, run.config)
        noise.save(run.noise)
        run.write_samples(data.train.source_index.numpy(), data.class_names, data.info.get("source_paths"))
        say(s, describe_noise(noise))
    dist.barrier()
    if cfg.log.tensorboard and dist.is_main:
        s.tensorboard = tensorboard_writer(run, s.epoch)
    s.t0 = time.time()
    return s


#: logits elements (rows x classes) held back before their probabilities are computed: 16 MB of float32
PENDING_ELEMENTS = 1 << 22


def record_pass(s: Session, logits: torch.Tensor, index: torch.Tensor) -> None:
    """Keep a training batch's (B, K') logits for ``train_given_prob`` and ``train_pred_prob``.

    Their softmax runs once per ``PENDING_ELEMENTS`` rather than once per step: on a small model the
    half-dozen small ops a step would add cost more than their arithmetic (docs/benchmarks.md §13).
    Softmax, gather and max act row by row, so the values equal per-step ones bit for bit."""
    s.pending.append((logits.detach(), index))
    if len(s.pending) * logits.numel() >= PENDING_ELEMENTS:      # an estimate: batches share one size but the last
        flush_pass_records(s)


def flush_pass_records(s: Session) -> None:
    """Write the pending batches' probabilities on the given label and on the predicted class."""
    if not s.pending:
        return
    logits = torch.cat([z for z, _ in s.pending])
    index = torch.cat([i for _, i in s.pending])
    s.pending.clear()
    given_prob, _, pred_prob = prediction_record(logits, s.y_train[index], s.data.num_classes)
    s.train_given_prob[index], s.train_pred_prob[index] = given_prob, pred_prob


def merge_epoch_state(s: Session, order: torch.Tensor, steps_done: int) -> None:
    """Bring the epoch's per-sample records up to date (``flush_pass_records``) and, in data-parallel
    runs, turn each rank's epoch counters (``sums``) and the predictions of the samples it trained on
    (``train_pred``, ``train_given_prob``, ``train_pred_prob``) into the global ones, on every rank.
    ``steps_done`` global batches of ``order`` have run (-1: the whole epoch)."""
    flush_pass_records(s)
    dist = s.dist
    if not dist.enabled:
        return
    dist.sum_(s.sums)
    bs = s.cfg.data.batch_size
    seen = order if steps_done < 0 else order[:steps_done * bs]
    mine = torch.cat([dist.shard(batch) for batch in batches(len(seen), bs, seen)]).to(s.device)
    votes = torch.zeros_like(s.train_pred)
    votes[mine] = s.train_pred[mine] + 1
    dist.sum_(votes)
    probs = torch.zeros(2, len(s.train_given_prob), device=s.device)
    probs[0, mine], probs[1, mine] = s.train_given_prob[mine], s.train_pred_prob[mine]
    dist.sum_(probs)
    seen = seen.to(s.device)
    s.train_pred[seen] = votes[seen] - 1
    s.train_given_prob[seen], s.train_pred_prob[seen] = probs[0, seen], probs[1, seen]


def say(s: Session, msg: str) -> None:
    """Print ``msg`` unless the run is quiet (or this is not rank 0)."""
    if not s.quiet:
        print(msg, flush=True)
