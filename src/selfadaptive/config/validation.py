"""Checks on a built config that types alone cannot express: choices, ranges and the rules that
tie keys together (which losses a task may train, what a data source needs)."""
from __future__ import annotations

from ..errors import UserError
from .ranges import out_of_range
from .schema import Config

CHOICES = {
    "data.name": ("digits", "npz", "csv", "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "stl10",
                  "image_folder", "dogs_vs_cats"),
    "data.augment": ("none", "crop", "crop_flip"),
    "noise.kind": ("none", "uniform", "flip", "asymmetric", "instance", "gaussian", "random_pixels", "shuffled_pixels",
                   "cifar10n", "cifar100n"),
    "precision": ("auto", "fp32", "bf16"),
    "task": ("classify", "selective", "robust", "ssl"),
    "adversarial.method": ("trades", "pgd"),
    "loss.variant": ("ce", "sce"),
    "loss.view_target": ("cross_view", "both_views"),
    "loss.bank_dtype": ("float32", "float16", "bfloat16"),
    "loss.bank_device": ("auto", "cpu"),
    "loss.auto_rule": ("changes_slowdown", "prediction_changes", "noisy_val_plateau", "lr_drop"),
    "optim.name": ("sgd", "adam", "lars"),
    "optim.schedule": ("cosine", "step", "constant"),
}
#: choices that may stay unset (None: the task's default, resolved when the run is built)
UNSET_CHOICES = ("loss.auto_rule", "loss.variant")


def validate_adversarial(cfg: Config) -> None:
    a = cfg.adversarial
    if not 0.0 <= a.eps <= 1.0:
        raise UserError(f"adversarial.eps must be in [0, 1] (inputs are in [0, 1]), got {a.eps}")
    for key in ("step_size", "eval_step_size", "test_step_size", "beta"):
        if getattr(a, key) < 0:
            raise UserError(f"adversarial.{key} must be >= 0, got {getattr(a, key)}")
    if a.step_size == 0:
        raise UserError("adversarial.step_size must be > 0")
    for key in ("steps", "eval_steps", "test_steps"):
        if getattr(a, key) < 1:
            raise UserError(f"adversarial.{key} must be >= 1, got {getattr(a, key)}")
    if a.eval_size < 0:
        raise UserError(f"adversarial.eval_size must be >= 0, got {a.eval_size}")
    if not (cfg.data.val_fraction or cfg.data.val_size):
        raise UserError("task=robust picks its checkpoint by robust accuracy on a held-out split; "
                        "set data.val_fraction (e.g. 0.1) or data.val_size")


def _or_list(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def validate_loss_task(cfg: Config) -> None:
    """``loss.name`` is registered (``losses.registry``) and may train ``task``."""
    from ..losses import loss_names, loss_spec
    if cfg.loss.name not in loss_names():
        raise UserError(f"config key 'loss.name' must be one of {', '.join(loss_names())}; got {cfg.loss.name!r}")
    tasks = loss_spec(cfg.loss.name).tasks
    if cfg.task in tasks:
        return
    if tasks == ("ssl",):
        raise UserError(f"loss.name={cfg.loss.name} is self-supervised: it needs task=ssl (sat pretrain)")
    if cfg.task in ("ssl", "selective"):
        raise UserError(f"task={cfg.task} trains loss.name={_or_list(loss_names(cfg.task))}; got {cfg.loss.name}")
    raise UserError(f"loss.name={cfg.loss.name} needs task={_or_list(tasks)}")


def check_auto_start(cfg: Config) -> None:
    """The automatic start's requirements, when ``start_epoch`` is ``auto``, set or by the loss's default
    (a loss without a start epoch, ce, elr, ..., ignores it, so that `--config <a sat preset> loss.name=ce`
    is the same recipe with CE)."""
    from ..losses import loss_names, loss_spec
    options = _loss_options(cfg.loss.name)
    start = cfg.loss.start_epoch if cfg.loss.start_epoch is not None else options.get("start_epoch")
    if "start_epoch" not in options or start != "auto":
        return
    auto = [n for n in loss_names(cfg.task) if "auto_rule" in _loss_options(n)]    # this task's warm-up losses
    _require(cfg.loss.name in auto, f"loss.start_epoch=auto chooses the start of "
                                    f"{_or_list(auto) if auto else f'no task={cfg.task} loss'}; "
                                    f"loss.name={cfg.loss.name} needs a number of epochs")
    default = "" if cfg.loss.start_epoch is not None else f" ({cfg.loss.name}'s default)"
    _require(not cfg.loss.reference_width, f"loss.start_epoch=auto{default} and loss.reference_width both set SAT's "
                                           "start; choose one (a number of epochs to rescale)")
    _require(cfg.loss.auto_rule != "noisy_val_plateau" or bool(cfg.data.val_fraction or cfg.data.val_size),
             "loss.auto_rule=noisy_val_plateau reads a validation split; set data.val_fraction (e.g. 0.1)")
    rules = loss_spec(cfg.loss.name).cls.auto_rules     # sat_ssl: the rules that need no labels
    _require(cfg.loss.auto_rule in (None, *rules), f"loss.auto_rule={cfg.loss.auto_rule} reads what task={cfg.task} "
                                                   f"does not have; {cfg.loss.name}'s automatic start takes {_or_list(rules)}")


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise UserError(msg)


def _loss_options(name: str) -> dict:
    """The options loss ``name`` reads, with their defaults ({} for an unknown name: validate_loss_task
    reports it)."""
    from ..losses import loss_names, loss_spec
    return dict(loss_spec(name).defaults) if name in loss_names() else {}


def check_ranges(cfg) -> None:
    """Every numeric key within its range (``ranges.RANGES``), floats finite."""
    import dataclasses
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                problem = out_of_range(f"{section.name}.{f.name}", getattr(value, f.name))
                if problem:
                    raise UserError(problem)
        else:
            problem = out_of_range(section.name, value)
            if problem:
                raise UserError(problem)


def validate(cfg: Config) -> None:
    """Range and choice checks that types alone cannot express; the specific rules first, then the
    range table for every numeric key."""
    for key, choices in CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in choices and not (value is None and key in UNSET_CHOICES):
            raise UserError(f"config key '{key}' must be one of {', '.join(choices)}; got {value!r}")
    validate_loss_task(cfg)
    def check(ok: bool, msg: str):
        if not ok:
            raise UserError(msg)
    check(0.0 <= cfg.noise.rate <= 1.0, f"noise.rate must be in [0, 1], got {cfg.noise.rate}")
    check(0.0 <= cfg.data.val_fraction < 1.0, f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}")
    check(0.0 < cfg.data.test_fraction < 1.0, f"data.test_fraction must be in (0, 1), got {cfg.data.test_fraction}")
    check(cfg.data.num_classes >= 0, f"data.num_classes must be >= 0, got {cfg.data.num_classes}")
    check(cfg.data.val_size >= 0, f"data.val_size must be >= 0, got {cfg.data.val_size}")
    check(not (cfg.data.val_size and cfg.data.val_fraction), "set data.val_size or data.val_fraction, not both")
    check(len(cfg.data.mean) == len(cfg.data.std), "data.mean and data.std must have the same length")
    check(all(v > 0 for v in cfg.data.std), "data.std values must be > 0")
    check(cfg.data.crop_padding >= 0, f"data.crop_padding must be >= 0, got {cfg.data.crop_padding}")
    check(cfg.data.subset >= 0, f"data.subset must be >= 0, got {cfg.data.subset}")
    check(cfg.data.test_subset >= 0, f"data.test_subset must be >= 0, got {cfg.data.test_subset}")
    check(cfg.data.batch_size >= 1, f"data.batch_size must be >= 1, got {cfg.data.batch_size}")
    check(cfg.data.eval_batch_size >= 1, f"data.eval_batch_size must be >= 1, got {cfg.data.eval_batch_size}")
    check(cfg.optim.epochs >= 1, f"optim.epochs must be >= 1, got {cfg.optim.epochs}")
    check(cfg.optim.lr > 0, f"optim.lr must be > 0, got {cfg.optim.lr}")
    check(cfg.optim.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {cfg.optim.weight_decay}")
    check(cfg.log.checkpoint_every >= 1, f"log.checkpoint_every must be >= 1, got {cfg.log.checkpoint_every}")
    if cfg.loss.momentum is not None:
        check(0.0 <= cfg.loss.momentum <= 1.0, f"loss.momentum must be in [0, 1], got {cfg.loss.momentum}")
    if isinstance(cfg.loss.start_epoch, str):
        check(cfg.loss.start_epoch == "auto", f"loss.start_epoch must be an epoch >= 0 or auto, got {cfg.loss.start_epoch!r}")
    elif cfg.loss.start_epoch is not None:
        check(cfg.loss.start_epoch >= 0, f"loss.start_epoch must be >= 0, got {cfg.loss.start_epoch}")
    check(cfg.loss.auto_window is None or cfg.loss.auto_window >= 1,
          f"loss.auto_window must be >= 1, got {cfg.loss.auto_window}")
    check(0.0 <= cfg.loss.auto_min_class_ratio <= 1.0,
          f"loss.auto_min_class_ratio must be in [0, 1], got {cfg.loss.auto_min_class_ratio}")
    if cfg.loss.reference_width:
        check(cfg.loss.reference_width > 0, f"loss.reference_width must be >= 0, got {cfg.loss.reference_width}")
        check(cfg.loss.name == "sat", f"loss.reference_width rescales SAT's schedule; loss.name is {cfg.loss.name}")
        check(cfg.model.base_width > 0, "loss.reference_width needs an explicit model.base_width to rescale for")
    check_auto_start(cfg)
    check(0.0 <= cfg.model.dropout < 1.0, f"model.dropout must be in [0, 1), got {cfg.model.dropout}")
    check(cfg.model.base_width >= 0, f"model.base_width must be >= 0, got {cfg.model.base_width}")
    if cfg.task == "ssl":
        check(cfg.noise.kind == "none" or cfg.noise.rate == 0,
              "task=ssl trains without labels; set noise.kind=none (the labels only score the probes)")
        ssl = cfg.ssl
        check(ssl.dim >= 1 and ssl.hidden >= 1, "ssl.dim and ssl.hidden must be >= 1")
        if ssl.target_momentum is not None:
            check(0.0 <= ssl.target_momentum < 1.0, f"ssl.target_momentum must be in [0, 1), got {ssl.target_momentum}")
            check(cfg.loss.name != "simsiam" or ssl.target_momentum == 0,
                  f"simsiam has no momentum network; leave ssl.target_momentum unset (got {ssl.target_momentum})")
        check(0.0 < ssl.crop_min_scale <= 1.0, f"ssl.crop_min_scale must be in (0, 1], got {ssl.crop_min_scale}")
        check(0.0 <= ssl.blur <= 1.0, f"ssl.blur must be in [0, 1], got {ssl.blur}")
        check(ssl.knn_every >= 0 and ssl.knn_k >= 1 and ssl.knn_temperature > 0,
              "ssl.knn_every must be >= 0, ssl.knn_k >= 1 and ssl.knn_temperature > 0")
        check(ssl.view_size >= 0 and ssl.monitor_size >= 2, "ssl.view_size must be >= 0 and ssl.monitor_size >= 2")
    if cfg.loss.coverage is not None:
        check(0.0 < cfg.loss.coverage <= 1.0, f"loss.coverage must be in (0, 1], got {cfg.loss.coverage}")
    if cfg.task == "robust":
        validate_adversarial(cfg)
    if cfg.loss.reward is not None:
        check(cfg.loss.reward > 1.0, f"loss.reward must be > 1, got {cfg.loss.reward}")
    if cfg.noise.kind in ("cifar10n", "cifar100n"):
        from ..data.labels import CIFAR_N_SETS
        sets = CIFAR_N_SETS[cfg.noise.kind]
        check(not cfg.noise.label_set or cfg.noise.label_set in sets or cfg.noise.label_set in sets.values(),
              f"noise.label_set for {cfg.noise.kind} must be one of {', '.join(sets)}; got {cfg.noise.label_set!r}")
        check(not cfg.data.clean_labels, "noise.kind=cifar10n/cifar100n carries its own clean labels; "
                                         "drop data.clean_labels")
    elif cfg.noise.label_set or cfg.noise.label_file:
        check(False, "noise.label_set and noise.label_file apply to noise.kind=cifar10n or cifar100n only")
    if cfg.data.clean_labels:
        check(cfg.noise.kind in ("none", "cifar10n", "cifar100n") or cfg.noise.rate == 0,
              "data.clean_labels describes a data set's own noise; set noise.kind=none")
    check(not cfg.data.unlabeled or (cfg.data.name == "stl10" and cfg.task == "ssl"),
          "data.unlabeled=true adds STL-10's unlabeled images to self-supervised pretraining (data.name=stl10, task=ssl)")
    check(cfg.data.workers >= 0, f"data.workers must be >= 0, got {cfg.data.workers}")
    check(not cfg.data.stream or cfg.data.name in ("image_folder", "dogs_vs_cats"),
          f"data.stream=true reads image folders from disk; data.name={cfg.data.name} is loaded into memory")
    from ..noise.labels import IMAGE_NOISE_KINDS
    check(not cfg.data.stream or cfg.noise.kind != "instance",
          "noise.kind=instance reads every training image to draw the noise; it needs data.stream=false")
    check(not cfg.data.stream or cfg.noise.kind not in IMAGE_NOISE_KINDS,
          f"noise.kind={cfg.noise.kind} replaces images in memory; it needs data.stream=false")
    check(cfg.data.image_size >= 8, f"data.image_size must be >= 8, got {cfg.data.image_size}")
    if cfg.data.name in ("npz", "csv", "image_folder"):
        check(bool(cfg.data.root), f"data.name={cfg.data.name} needs data.root=PATH")
    check_ranges(cfg)
