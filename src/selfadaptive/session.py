"""Everything around the training loop: building a run, resuming it, per-epoch rows and the summary.

Kept out of ``train.py`` so that the loop itself reads top to bottom.
"""
from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import functional as SF
from .checkpoint import load_checkpoint
from .config import Config, save_config
from .data import DataBundle, ImageFiles, batches, build_data
from .devices import bf16_autocast, resolve_device, uses_bf16, uses_channels_last
from .distributed import Distributed
from .errors import Interrupted, UserError, first_line
from .label_issues import LabelIssueTracker, detection_metrics
from .losses import IndexedLoss, SelfAdaptiveLoss, TradesLoss, build_loss
from .models import build_classifier
from .corruptions import corrupt_images
from .data.labels import CIFAR_N_DEFAULT_SET, CIFAR_N_FILES, cifar_n_labels
from .noise import GIVEN_NOISE_KINDS, IMAGE_NOISE_KINDS, LabelNoise, asymmetric_map, corrupt_labels
from .robust import BestRobustModel
from .runfolder import RunDir


@dataclass
class Session:
    """The live objects and counters of one training run."""

    cfg: Config
    run: RunDir
    device: torch.device
    data: DataBundle
    noise: LabelNoise
    model: torch.nn.Module
    loss_fn: IndexedLoss
    optimizer: torch.optim.Optimizer
    x_train: torch.Tensor           # (N, ...) training inputs on device, stored dtype (ImageFiles: on disk)
    y_train: torch.Tensor           # (N,) given (noisy) labels on device
    clean_labels: torch.Tensor      # (N,) on device
    noisy_mask: torch.Tensor        # (N,) bool on device
    train_pred: torch.Tensor        # (N,) last training-pass prediction of each sample, -1 if unseen
    sums: torch.Tensor              # (3,) loss sum, correct, seen in the current epoch
    tracker: LabelIssueTracker | None = None    # per-epoch soft-target history, for losses with a bank
    best_robust: BestRobustModel | None = None  # task=robust: the model kept by validation robust accuracy
    epoch: int = 0                  # first epoch to run
    step: int = 0                   # first step of that epoch to run
    elapsed: float = 0.0            # seconds spent before this process (resume)
    t0: float = field(default_factory=time.time)
    quiet: bool = False
    amp: bool = False               # bf16 autocast (CUDA)
    channels_last: bool = False     # NHWC inputs and weights (CUDA conv nets)
    dist: Distributed = field(default_factory=Distributed)
    net: torch.nn.Module | None = None  # what the training step calls: the model, or its DDP wrapper
    tensorboard: object | None = None   # a SummaryWriter when log.tensorboard (rank 0)
    val_noisy: object | None = None     # the validation split corrupted like the training set (dynamics)

    def autocast(self):
        return bf16_autocast(self.device, self.amp)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.name == "lars":
        from .lars import LARS
        return LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, eta=cfg.eta)
    raise UserError(f"unknown optim.name {cfg.name!r}; choose sgd, adam or lars")


def make_noise(cfg: Config, data: DataBundle) -> LabelNoise:
    """The run's corruption: reused from ``noise.file``, or drawn per ``cfg.noise``."""
    train_labels = data.train.y.numpy()
    if cfg.noise.file:
        noise = LabelNoise.load(cfg.noise.file)
        if noise.clean_labels.shape != train_labels.shape or not np.array_equal(noise.clean_labels, train_labels):
            raise UserError(f"{cfg.noise.file} was made for another training set ({noise.clean_labels.size} labels; "
                            f"this one has {train_labels.size}); use the same data settings as the run that wrote it")
        return noise
    if cfg.noise.kind in ("cifar10n", "cifar100n"):
        return cifar_n_noise(cfg, data)
    if data.train_clean_labels is not None:     # a data set with its own noise and known true labels
        return LabelNoise.from_labels(data.train_clean_labels, train_labels, "given")
    seed = cfg.seed if cfg.noise.seed is None else cfg.noise.seed
    if cfg.noise.kind in IMAGE_NOISE_KINDS:
        return corrupt_images(data.train.x.numpy(), train_labels, cfg.noise.rate, cfg.noise.kind, seed=seed)
    class_map = asymmetric_map(data.num_classes, data.class_names, data.info.get("coarse_of_class"))
    return corrupt_labels(train_labels, data.num_classes, cfg.noise.rate, cfg.noise.kind, seed=seed, class_map=class_map)


#: added to the noise seed for the validation copy, so that it is drawn apart from the training noise
VAL_NOISE_SEED_OFFSET = 1_000_003


def noisy_validation(cfg: Config, data: DataBundle, noise: LabelNoise):
    """The validation split corrupted by the same rule as the training set, for the training-dynamics
    curves (the paper's Fig. 1): labels redrawn for label noise, images replaced for image
    corruptions.  None without a validation split or synthetic noise.  A pure function of the
    config, so a resumed run rebuilds the same copy."""
    from .data import ArrayDataset
    val = data.val
    if val is None or len(val) == 0 or noise.rate <= 0 or cfg.noise.file:
        return None
    seed = (cfg.seed if cfg.noise.seed is None else cfg.noise.seed) + VAL_NOISE_SEED_OFFSET
    if noise.kind in IMAGE_NOISE_KINDS:
        copy = corrupt_images(val.x.numpy(), val.y.numpy(), noise.rate, noise.kind, seed=seed)
        return ArrayDataset(torch.from_numpy(copy.apply_images(val.x.numpy())), val.y)
    if noise.kind in ("uniform", "flip", "asymmetric"):
        class_map = asymmetric_map(data.num_classes, data.class_names, data.info.get("coarse_of_class"))
        copy = corrupt_labels(val.y.numpy(), data.num_classes, noise.rate, noise.kind, seed=seed, class_map=class_map)
        return ArrayDataset(val.x, torch.from_numpy(copy.noisy_labels))
    return None


def cifar_n_noise(cfg: Config, data: DataBundle) -> LabelNoise:
    """Human label noise from a CIFAR-10N / CIFAR-100N file, matched to the training rows."""
    kind = cfg.noise.kind
    path = cfg.noise.label_file or str(Path(cfg.data.root or "data") / CIFAR_N_FILES[kind])
    noisy_all, clean_all = cifar_n_labels(kind, path, cfg.noise.label_set or CIFAR_N_DEFAULT_SET[kind])
    rows = data.train.source_index.numpy()
    total = int(data.info.get("source_rows", len(data.train)))
    if noisy_all.shape[0] != total:
        raise UserError(f"{path} holds {noisy_all.shape[0]} labels but the training file has {total} rows")
    given = data.train.y.numpy()
    if clean_all is not None:
        wrong = int((clean_all[rows] != given).sum())
        if wrong:
            raise UserError(f"{path}: its clean_label disagrees with this training set's labels on {wrong} of "
                            f"{len(rows)} samples; CIFAR-N follows the official CIFAR training order")
    if noisy_all.max() >= data.num_classes or noisy_all.min() < 0:
        raise UserError(f"{path}: labels fall outside [0, {data.num_classes})")
    return LabelNoise.from_labels(given, noisy_all[rows], kind)


def join_processes(device_name: str) -> tuple[Distributed, torch.device]:
    """The process group (if torchrun-style variables describe one) and this process's device:
    ``cuda:LOCAL_RANK`` for data-parallel CUDA runs."""
    device = resolve_device(device_name)
    dist = Distributed.from_env(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    dist.device = device
    return dist, device


def setup(cfg: Config, run: RunDir, resume: bool, model=None, data=None, quiet: bool = False) -> Session:
    """Build (or restore, with ``resume``) every object of a run.  Under torchrun-style variables
    (WORLD_SIZE > 1) every rank builds the same run; only rank 0 writes to the folder."""
    dist, device = join_processes(cfg.device)
    quiet = quiet or not dist.is_main
    if resume:
        run.require()
        if not run.checkpoint.is_file():
            raise UserError(f"{run.path} has no checkpoint.pt to resume from")
    else:
        run.require_new()
    dist.barrier()      # every rank has looked before rank 0 creates the folder
    if cfg.task == "ssl":
        raise UserError("task=ssl is self-supervised pretraining: run it with sat pretrain")
    seed_everything(cfg.seed)
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
        model = build_classifier(cfg.model, cfg.loss.name, k, data.input_shape, data.mean, data.std)
    model = model.to(device)
    amp = uses_bf16(cfg.precision, device)
    if amp and device.type == "cpu" and cfg.precision == "bf16" and not quiet:
        print("note: bf16 autocast on CPU is slow on most processors; precision=fp32 is the usual choice")
    channels_last = uses_channels_last(cfg.channels_last, device, data.input_shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(cfg.loss, labels, k, width=cfg.model.base_width)
    if cfg.task == "robust" and cfg.adversarial.method == "trades":
        loss_fn = TradesLoss(loss_fn, beta=cfg.adversarial.beta)
    loss_fn = loss_fn.to(device)
    if cfg.loss.bank_device == "cpu":
        loss_fn.keep_bank_on_host()
    dist.attach(loss_fn)
    n = len(labels)
    s = Session(cfg=cfg, run=run, device=device, data=data, noise=noise, model=model, loss_fn=loss_fn,
                optimizer=build_optimizer(cfg.optim, model), x_train=x_train, y_train=labels.to(device),
                clean_labels=torch.from_numpy(noise.clean_labels).to(device),
                noisy_mask=torch.from_numpy(noise.noisy_mask).to(device),
                train_pred=torch.full((n,), -1, dtype=torch.long, device=device),
                sums=torch.zeros(3, device=device), quiet=quiet, amp=amp, channels_last=channels_last, dist=dist)
    s.val_noisy = noisy_validation(cfg, data, noise)
    s.net = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel
        s.net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:     # the first steps pay for compilation; parameters stay shared with ``model``
        s.net = torch.compile(s.net)
    s.tracker = LabelIssueTracker.for_loss(labels, loss_fn)
    if s.tracker is not None:
        s.tracker.to(loss_fn.bank().device)      # the history lives beside the bank
    if cfg.task == "robust":
        s.best_robust = BestRobustModel(run.best_model, write=dist.is_main)
    if resume:
        state = load_checkpoint(run.checkpoint, map_location=device)
        try:
            model.load_state_dict(state["model"])
            loss_fn.load_state_dict(state["loss"])
            s.optimizer.load_state_dict(state["optimizer"])
            if s.tracker is not None:
                s.tracker.load_state_dict(state["tracker"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise UserError(f"{run.checkpoint} does not match this run's model/loss: {first_line(e)}") from None
        dist.restore_rng(state)
        s.epoch, s.step, s.elapsed = int(state["epoch"]), int(state["step"]), float(state["elapsed"])
        if dist.is_main:        # the saved sums are global: count them once
            s.sums.copy_(state["sums"])
        s.train_pred.copy_(state["train_pred"])
        if dist.is_main:
            run.keep_metrics_before(s.epoch)
        dist.barrier()
        if s.best_robust is not None:
            s.best_robust.restore(run.read_metrics())
        _say(s, f"resuming {run.path} at epoch {s.epoch}" + (f", step {s.step}" if s.step else ""))
    elif dist.is_main:
        run.path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run.config)
        noise.save(run.noise)
        run.write_samples(data.train.source_index.numpy(), data.class_names)
        _say(s, describe_noise(noise))
    dist.barrier()
    if cfg.log.tensorboard and dist.is_main:
        s.tensorboard = tensorboard_writer(run, s.epoch)
    s.t0 = time.time()
    return s


def tensorboard_writer(run: RunDir, first_epoch: int):
    """A SummaryWriter on RUN/tensorboard; a resumed run drops events from ``first_epoch`` on,
    as metrics.jsonl does."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("log.tensorboard=true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(run.path / "tensorboard"), purge_step=first_epoch if first_epoch else None)


def log_row(s: Session, row: dict) -> None:
    """Append an epoch's metrics to metrics.jsonl (and TensorBoard); rank 0 only."""
    if not s.dist.is_main:
        return
    s.run.append_metrics(row)
    if s.tensorboard is not None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                s.tensorboard.add_scalar(key, value, row["epoch"])
        s.tensorboard.flush()


def describe_noise(noise: LabelNoise) -> str:
    n, wrong = noise.noisy_labels.size, int(noise.noisy_mask.sum())
    if noise.kind == "none" or (noise.rate == 0 and noise.kind not in GIVEN_NOISE_KINDS):
        return f"label noise: none ({n} training labels)"
    if noise.kind in GIVEN_NOISE_KINDS:
        what = "human labels (" + noise.kind + ")" if noise.kind != "given" else "the data's own labels"
        return f"label noise: {what}: {wrong} of {n} training labels differ from the true ones ({noise.rate:.3f})"
    if noise.kind in IMAGE_NOISE_KINDS:
        return (f"image corruption: {noise.kind} at rate {noise.rate:g}: {wrong} of {n} training images replaced "
                f"(labels kept)")
    return (f"label noise: {noise.kind} at rate {noise.rate:g}: {wrong} of {n} training labels are wrong "
            f"(realised rate {noise.realised_rate:.3f})")


def _say(s: Session, msg: str) -> None:
    if not s.quiet:
        print(msg, flush=True)


def _frac(mask_hits: torch.Tensor) -> float | None:
    return mask_hits.float().mean().item() if mask_hits.numel() else None


def merge_epoch_state(s: Session, order: torch.Tensor, steps_done: int) -> None:
    """Data-parallel runs: turn each rank's epoch counters (``sums``) and the predictions of the
    samples it trained on (``train_pred``) into the global ones, on every rank.  ``steps_done``
    global batches of ``order`` have run (-1: the whole epoch).  A no-op for one process."""
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
    seen = seen.to(s.device)
    s.train_pred[seen] = votes[seen] - 1


def epoch_row(s: Session, epoch: int, lr: float, test: dict, val: dict | None, val_noisy: dict | None = None) -> dict:
    """One metrics.jsonl row from the ``evaluate_on`` results of the test and validation splits.
    Training-subset accuracies come from the training forward passes of this epoch (train mode,
    the inputs the model was fitted on), so they cost no extra pass."""
    loss_sum, correct, seen = s.sums.tolist()
    row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / seen, "train_acc": correct / seen, "test_acc": test["acc"]}
    if "aurc" in test:
        row["test_aurc"] = test["aurc"]
    if val is not None:
        row["val_acc"] = val["acc"]
    if val_noisy is not None:       # label noise: agreement with corrupted labels; images: accuracy on corrupted images
        row["val_acc_noisy"] = val_noisy["acc"]
        if "aurc" in val:
            row["val_aurc"] = val["aurc"]
    if bool(s.noisy_mask.any()):
        noisy, clean = s.noisy_mask, ~s.noisy_mask
        pred = s.train_pred
        row["train_acc_clean"] = _frac(pred[clean] == s.clean_labels[clean])      # clean subset
        row["train_acc_noisy"] = _frac(pred[noisy] == s.clean_labels[noisy])      # noisy subset, true labels
        row["train_memorised_noisy"] = _frac(pred[noisy] == s.y_train[noisy])     # noisy subset, wrong labels
        bank = s.loss_fn.bank()
        if bank is not None:
            row["target_recovery"] = SF.target_recovery(bank, s.clean_labels.to(bank.device), noisy.to(bank.device))
        if s.tracker is not None and int(s.tracker.epochs_tracked):
            found = detection_metrics(s.tracker.scores(bank).cpu().numpy(), noisy.cpu().numpy())
            row.update({f"detection_{k}": v for k, v in found.items() if k != "k"})
    row["time_s"] = s.elapsed + time.time() - s.t0
    return row


def summarize(s: Session, extra: dict | None = None) -> dict:
    """Write soft_targets.npy and summary.json from the run folder's metrics (plus ``extra`` fields);
    print the headline."""
    rows = s.run.read_metrics()
    if not rows:
        raise UserError(f"{s.run.metrics} holds no epochs")
    last = rows[-1]
    best = max(rows, key=lambda r: r["test_acc"])
    noise = s.noise
    summary = {
        "loss": s.cfg.loss.name, "data": s.cfg.data.name, "seed": s.cfg.seed, "device": str(s.device),
        "epochs": last["epoch"] + 1, "num_train": int(noise.noisy_labels.size),
        "noise_kind": noise.kind, "noise_rate": noise.rate, "noise_rate_realised": noise.realised_rate,
        "num_noisy": int(noise.noisy_mask.sum()),
        "test_acc_last": last["test_acc"], "test_acc_best": best["test_acc"], "best_epoch": best["epoch"],
    }
    if "val_acc" in last:
        best_val = max(rows, key=lambda r: r["val_acc"])
        summary.update(val_acc_last=last["val_acc"], val_acc_best=best_val["val_acc"], best_val_epoch=best_val["epoch"],
                       test_acc_at_best_val=best_val["test_acc"])
    sat = getattr(s.loss_fn, "natural", s.loss_fn)
    if isinstance(sat, SelfAdaptiveLoss):
        # the values in force, which differ from the config's under loss.reference_width
        summary.update(momentum=sat.momentum, start_epoch=sat.start_epoch)
    bank = s.loss_fn.bank()
    if bank is not None:
        s.run.write_soft_targets(bank)
    if s.tracker is not None:
        s.run.write_label_history(s.tracker)
    if last.get("detection_auroc") is not None:
        summary.update({k: last[k] for k in ("detection_auroc", "detection_ap", "detection_precision_at_k",
                                             "detection_recall_at_k")})
    if "test_aurc" in last:
        summary["test_aurc_last"] = last["test_aurc"]
    if "target_recovery" in last:
        summary["target_recovery"] = last["target_recovery"]
        summary["num_noisy_recovered"] = round(last["target_recovery"] * summary["num_noisy"])
    summary.update(extra or {})
    summary["wall_time_s"] = s.elapsed + time.time() - s.t0
    s.run.write_summary(summary)
    _say(s, headline(summary) + f"\nrun folder: {s.run.path}")
    return summary


def headline(summary: dict) -> str:
    name = summary["loss"].upper()
    lines = [f"{name}: test accuracy {100 * summary['test_acc_last']:.2f}% at the last epoch "
             f"(best {100 * summary['test_acc_best']:.2f}% at epoch {summary['best_epoch']})"]
    if "test_acc_at_best_val" in summary:
        lines.append(f"  test accuracy at the best validation epoch ({summary['best_val_epoch']}): "
                     f"{100 * summary['test_acc_at_best_val']:.2f}%")
    if "num_noisy_recovered" in summary and summary["num_noisy"]:
        lines.append(f"  {name} targets now give the true class for {summary['num_noisy_recovered']} of the "
                     f"{summary['num_noisy']} wrong training labels ({100 * summary['target_recovery']:.1f}%)")
    if "test_robust_acc_last" in summary:
        attack = summary["robust_attack"].upper()
        lines.append(f"  last model: clean {100 * summary['test_clean_acc_last']:.2f}%, {attack} "
                     f"{100 * summary['test_robust_acc_last']:.2f}%")
        if "test_robust_acc_best" in summary:
            lines.append(f"  best model (epoch {summary['best_robust_epoch']}, by validation robust accuracy): clean "
                         f"{100 * summary['test_clean_acc_best']:.2f}%, {attack} {100 * summary['test_robust_acc_best']:.2f}%")
    if summary.get("detection_auroc") is not None:
        lines.append(f"  mislabeled-sample detection: AUROC {summary['detection_auroc']:.3f}, "
                     f"AP {summary['detection_ap']:.3f} (ranked list: sat issues RUN)")
    return "\n".join(lines)


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step; a second signal aborts at once."""

    def __init__(self, on_error=None):
        self.signum: int | None = None
        self._old: dict = {}
        # called when the block ends in an exception (a checkpointed stop, divergence, a bad file):
        # data-parallel loops leave the process group there, so that no communication thread
        # outlives the interpreter (gloo's would abort the process on exit)
        self.on_error = on_error

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def interrupted(self, checkpoint: Path, command: str = "sat train") -> Interrupted:
        if self.signum is None:     # another rank of a data-parallel run was signalled
            self.signum = signal.SIGTERM
        name = signal.Signals(self.signum).name
        return Interrupted(self.signum, f"{name} received: checkpoint saved to {checkpoint}; "
                                        f"continue with: {command} --resume {checkpoint.parent}")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        if exc_type is not None and self.on_error is not None:
            self.on_error()
        return False
