"""Typed run configuration: frozen dataclasses, loaded from YAML, with dotted CLI overrides.

Unknown keys and values of the wrong type are errors (``UserError``).  The dataclass defaults are
neutral library defaults (model widths and SAT's E_s = 60 as in the paper); ``sat train`` with no
``--config`` runs the preset ``DEFAULT_PRESET`` (digits, 40% flip noise).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import UserError, first_line


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"            # digits | npz | csv | mnist | fashion_mnist | cifar10 | cifar100 | svhn | stl10
                                    # | image_folder
    root: str = ""                  # file or folder the loader reads (default for IDX/CIFAR: see docs)
    download: bool = False          # cifar10/cifar100/svhn: fetch the official files (MD5-checked)
    image_size: int = 64            # image_folder: images are resized to this square size
    stream: bool = False            # image_folder: decode images per batch from disk (for folders that do
                                    # not fit in memory) instead of loading them all at the start
    workers: int = 4                # data.stream: DataLoader processes that decode images ahead of the device
    unlabeled: bool = False         # stl10 with task=ssl: also pretrain on the 100k unlabeled images
    test_path: str = ""             # csv: a separate test file; empty = hold out test_fraction
    test_fraction: float = 0.25     # digits/csv without test_path: seeded hold-out
    label_column: str = "label"     # csv: the column that holds the labels
    num_classes: int = 0            # 0: inferred as max label + 1; set it to catch stray labels
    subset: int = 0                 # >0: a seeded random subset of the training set of this size
    test_subset: int = 0            # >0: score on a seeded random subset of the test set (quick checks)
    val_fraction: float = 0.0       # >0: a seeded validation split taken from the training set
    val_size: int = 0               # >0: the *last* val_size training rows are the validation set
                                    # (CIFAR's 45k/5k protocol; not for class-sorted files)
    mean: tuple[float, ...] = ()    # normalisation constants; empty = computed from the training set
    std: tuple[float, ...] = ()
    augment: str = "none"           # none | crop | crop_flip, batched on the training device
    crop_padding: int = 4
    split_seed: int = 0             # seeds test/val/subset splits, kept apart from `seed` so that
                                    # runs with different seeds share one test set
    batch_size: int = 64
    eval_batch_size: int = 1024
    labels: str = ""                # CSV (source_index,label) or .npy replacing training labels,
                                    # e.g. the export of `sat issues RUN --export`
    clean_labels: str = ""          # same format: the *true* labels of a noisy data set, for
                                    # detection metrics and clean/noisy accuracies


@dataclass(frozen=True)
class NoiseConfig:
    kind: str = "flip"              # none | uniform | flip | asymmetric | gaussian | random_pixels | shuffled_pixels
                                    # | cifar10n | cifar100n (human labels; label_set picks one)
    rate: float = 0.4
    seed: Optional[int] = None      # None: use the run's seed
    file: str = ""                  # reuse RUN/noise.npz of another run (kind/rate then come from it)
    label_set: str = ""             # cifar10n: aggre | worse | random1-3 (default worse); cifar100n: noisy
    label_file: str = ""            # CIFAR-N labels (.pt/.npz/.npy); default <data.root>/CIFAR-10_human.pt


@dataclass(frozen=True)
class LossConfig:
    name: str = "sat"               # ce | gce | sce | bootstrap | elr | sat; task selective: sat_selective | gambler
                                    # | selectivenet | ce; task ssl: sat_ssl | byol | simsiam
    momentum: Optional[float] = None    # EMA momentum (SAT alpha 0.9, ELR beta 0.7 when None)
    start_epoch: Optional[int] = None   # SAT E_s (60 when None); selective losses: pretraining epochs (0)
    variant: str = "ce"             # SAT: ce | sce
    q: Optional[float] = None       # GCE (0.7)
    alpha: Optional[float] = None   # SCE (0.1); SelectiveNet's selective-loss weight (0.5)
    beta: Optional[float] = None    # SCE (1.0), bootstrap (0.95)
    lam: Optional[float] = None     # ELR lambda (3.0); SelectiveNet's coverage penalty lambda (32)
    coverage: Optional[float] = None    # SelectiveNet's target coverage c (0.8)
    reward: Optional[float] = None  # Deep Gamblers payoff o (2.2)
    bank_dtype: str = "float32"     # float32 | float16 | bfloat16
    bank_device: str = "auto"       # auto (the training device) | cpu (pinned host memory, off the GPU)
    reference_width: int = 0        # SAT: >0 means momentum/start_epoch were tuned at this model.base_width;
                                    # other widths rescale them (schedules.rescale_for_width)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "mlp"               # mlp | cnn | resnet18 | resnet34 | wrn28_10 | wrn34_10 | vgg16_bn
    base_width: int = 0             # 0: the model's default width (ResNet 64, CNN 32, MLP 256)
    depth: int = 2                  # mlp: hidden layers
    dropout: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"               # sgd | adam | lars (layer-wise trust ratio, for large-batch SSL)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    epochs: int = 200
    schedule: str = "cosine"        # cosine | step | constant, stepped once per epoch
    milestones: tuple[int, ...] = ()    # step: epochs at which lr *= gamma
    gamma: float = 0.1
    warmup_epochs: int = 0
    eta: float = 0.001              # lars: trust coefficient


@dataclass(frozen=True)
class AdversarialConfig:
    """task=robust: adversarial training and robust evaluation, L-inf, inputs in [0, 1]."""

    method: str = "trades"          # trades (TRADES; TRADES+SAT with loss.name=sat) | pgd (Madry's PGD training)
    eps: float = 0.031              # L-inf radius in [0, 1] pixel units (8/255 ~ 0.031 on CIFAR)
    step_size: float = 0.007        # training attack step
    steps: int = 10                 # training attack steps
    beta: float = 6.0               # TRADES: weight of the KL term
    eval_steps: int = 10            # per-epoch PGD on the validation split (picks the best checkpoint)
    eval_step_size: float = 0.0     # 0: 2.5 * eps / eval_steps (Madry et al.'s rule)
    eval_size: int = 1000           # validation samples attacked per epoch; 0: all
    test_steps: int = 20            # PGD on the test split at the end, for the last and the best model
    test_step_size: float = 0.0     # 0: 2.5 * eps / test_steps (the paper's CIFAR-10 value is 0.003)


@dataclass(frozen=True)
class SSLConfig:
    """task=ssl: self-supervised pretraining (``sat pretrain``, loss.name sat_ssl | byol | simsiam) and its probes."""

    dim: int = 128                  # projection and target-bank dimension D
    hidden: int = 512               # projector and predictor hidden width
    head_norm: bool = True          # batch norm in the projector and predictor (per process under DDP)
    target_momentum: Optional[float] = None  # BYOL's tau at step 0, cosine-ramped to 1; 0: no momentum network
                                    # (None: 0.99 for sat_ssl and byol, 0 for simsiam, which has none)
    view_size: int = 0              # side of the random views; 0: the input size
    crop_min_scale: float = 0.2     # random resized crop area range [crop_min_scale, 1]
    blur: float = 0.0               # probability of a Gaussian blur per view
    knn_every: int = 5              # epochs between kNN probes (the last epoch always has one)
    knn_k: int = 200
    knn_temperature: float = 0.1
    monitor_size: int = 1024        # training images whose embeddings the collapse monitor reads
    linear_probe: bool = True       # fit a linear probe on frozen features at the end


@dataclass(frozen=True)
class LogConfig:
    progress: bool = True           # tqdm progress bar
    checkpoint_every: int = 1       # epochs between checkpoints
    tensorboard: bool = False       # also write every metrics row to RUN/tensorboard (pip install tensorboard)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    task: str = "classify"          # classify | selective (abstention: sat_selective, gambler, or ce + softmax response)
                                    # | robust (adversarial training: TRADES, TRADES+SAT, PGD)
    seed: int = 0
    device: str = "auto"            # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"         # auto (bf16 autocast on CUDA, fp32 elsewhere) | fp32 | bf16
    channels_last: bool = True      # NHWC memory layout for conv nets on CUDA (ignored elsewhere)
    compile: bool = False           # torch.compile the training forward pass (evaluation stays eager)


DEFAULT_PRESET = "digits-flip40-sat"


# ---------------------------------------------------------------------------------------------
# Type checking and conversion


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str) -> Any:
    """``value`` as type ``tp`` or a UserError naming ``key``.  Ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{key}' expects a list of {_type_name(item_tp)}, got {value!r}")
        return tuple(_coerce(v, item_tp, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; users mean a number
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise UserError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")


def _build(cls, values: dict, prefix: str = ""):
    """Instantiate dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types.

    Keys absent from ``values`` keep the dataclass default; ``load_config`` merges the full
    default tree in first, so that defaults set by a parent (``Config.loss``) survive.
    """
    if not isinstance(values, dict):
        raise UserError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        key = prefix + unknown[0]
        raise UserError(f"unknown config key '{key}'; known keys here: {', '.join(prefix + k for k in known)}")
    kwargs = {}
    for name in values:
        tp = hints[name]
        if is_dataclass(tp):
            kwargs[name] = _build(tp, values[name], prefix + name + ".")
        else:
            kwargs[name] = _coerce(values[name], tp, prefix + name)
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""
    def conv(v):
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return conv(dataclasses.asdict(cfg))


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"config key '{key}': '{p}' is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=0.05'`` -> ``('optim.lr', 0.05)``; values are read as YAML scalars/lists."""
    if "=" not in text:
        raise UserError(f"override '{text}' must look like key=value, e.g. optim.lr=0.05")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"override '{text}' has no key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"config file {path} is not valid YAML: {first_line(e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at the top level")
    data.pop("description", None)   # presets carry a one-line description for `sat presets`
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- YAML file (if any) <- dotted overrides, validated."""
    tree: dict = read_yaml(path) if path else {}
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    cfg = _build(Config, _merge(to_dict(Config()), tree))
    validate(cfg)
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


#: the self-supervised losses (task=ssl, sat pretrain)
SSL_LOSSES = ("sat_ssl", "byol", "simsiam")

CHOICES = {
    "data.name": ("digits", "npz", "csv", "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "stl10",
                  "image_folder"),
    "data.augment": ("none", "crop", "crop_flip"),
    "noise.kind": ("none", "uniform", "flip", "asymmetric", "gaussian", "random_pixels", "shuffled_pixels",
                   "cifar10n", "cifar100n"),
    "precision": ("auto", "fp32", "bf16"),
    "task": ("classify", "selective", "robust", "ssl"),
    "adversarial.method": ("trades", "pgd"),
    "loss.name": ("ce", "gce", "sce", "bootstrap", "elr", "sat", "sat_selective", "gambler", "selectivenet",
                  "sat_ssl", "byol", "simsiam"),
    "loss.variant": ("ce", "sce"),
    "loss.bank_dtype": ("float32", "float16", "bfloat16"),
    "loss.bank_device": ("auto", "cpu"),
    "optim.name": ("sgd", "adam", "lars"),
    "optim.schedule": ("cosine", "step", "constant"),
}


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


def validate(cfg: Config) -> None:
    """Range and choice checks that types alone cannot express."""
    for key, choices in CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in choices:
            raise UserError(f"config key '{key}' must be one of {', '.join(choices)}; got {value!r}")
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
    if cfg.loss.start_epoch is not None:
        check(cfg.loss.start_epoch >= 0, f"loss.start_epoch must be >= 0, got {cfg.loss.start_epoch}")
    if cfg.loss.reference_width:
        check(cfg.loss.reference_width > 0, f"loss.reference_width must be >= 0, got {cfg.loss.reference_width}")
        check(cfg.loss.name == "sat", f"loss.reference_width rescales SAT's schedule; loss.name is {cfg.loss.name}")
        check(cfg.model.base_width > 0, "loss.reference_width needs an explicit model.base_width to rescale for")
    check(0.0 <= cfg.model.dropout < 1.0, f"model.dropout must be in [0, 1), got {cfg.model.dropout}")
    check(cfg.model.base_width >= 0, f"model.base_width must be >= 0, got {cfg.model.base_width}")
    if cfg.task == "ssl":
        check(cfg.loss.name in SSL_LOSSES, f"task=ssl trains loss.name=sat_ssl, byol or simsiam; got {cfg.loss.name}")
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
    elif cfg.loss.name in SSL_LOSSES:
        check(False, f"loss.name={cfg.loss.name} is self-supervised: it needs task=ssl (sat pretrain)")
    if cfg.task == "selective":
        check(cfg.loss.name in ("sat_selective", "gambler", "selectivenet", "ce"),
              f"task=selective trains loss.name=sat_selective, gambler, selectivenet or ce; got {cfg.loss.name}")
    else:
        check(cfg.loss.name not in ("sat_selective", "gambler", "selectivenet"),
              f"loss.name={cfg.loss.name} needs task=selective")
    if cfg.loss.coverage is not None:
        check(0.0 < cfg.loss.coverage <= 1.0, f"loss.coverage must be in (0, 1], got {cfg.loss.coverage}")
    if cfg.task == "robust":
        validate_adversarial(cfg)
    if cfg.loss.reward is not None:
        check(cfg.loss.reward > 1.0, f"loss.reward must be > 1, got {cfg.loss.reward}")
    if cfg.noise.kind in ("cifar10n", "cifar100n"):
        from .data.labels import CIFAR_N_SETS
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
    check(not cfg.data.stream or cfg.data.name == "image_folder",
          f"data.stream=true reads image folders from disk; data.name={cfg.data.name} is loaded into memory")
    from .noise import IMAGE_NOISE_KINDS
    check(not cfg.data.stream or cfg.noise.kind not in IMAGE_NOISE_KINDS,
          f"noise.kind={cfg.noise.kind} replaces images in memory; it needs data.stream=false")
    check(cfg.data.image_size >= 8, f"data.image_size must be >= 8, got {cfg.data.image_size}")
    if cfg.data.name in ("npz", "csv", "image_folder"):
        check(bool(cfg.data.root), f"data.name={cfg.data.name} needs data.root=PATH")
