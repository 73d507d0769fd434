"""The run configuration's frozen dataclasses: one section each, every key with its default and a
comment saying what it does."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"            # digits | npz | csv | mnist | fashion_mnist | cifar10 | cifar100 | svhn | stl10
                                    # | image_folder | dogs_vs_cats
    root: str = ""                  # file or folder the loader reads; for a named data set (mnist, cifar10, ...)
                                    # empty = the data home, $SAT_DATA_ROOT or ./data (README)
    download: bool = False          # named data sets: fetch the official files (MD5-checked) when the data
                                    # home has neither them nor a prepared <name>.npz
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
    kind: str = "auto"              # auto: flip on the built-in digits demo, none on any other data (your own
                                    # labels are never corrupted unless you ask) | none | uniform | flip | asymmetric
                                    # | instance | gaussian | random_pixels | shuffled_pixels | cifar10n | cifar100n
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
    start_epoch: Optional[Union[int, str]] = None   # SAT E_s, or auto (the default: chosen during training by
                                    # loss.auto_rule); selective losses: pretraining epochs (0)
    auto_rule: Optional[str] = None     # start_epoch=auto: changes_slowdown | prediction_changes | noisy_val_plateau
                                    # | lr_drop; None: changes_slowdown, lr_drop under task=robust
    auto_window: Optional[int] = None   # start_epoch=auto: moving-average window (the PC rules) or patience
                                    # (plateau); None: the rule's own (1, 3, 3)
    auto_min_class_ratio: float = 0.3   # start_epoch=auto: SAT is held back if, when the rule fires, a class is
                                    # predicted at under this fraction of its given-label frequency, until every
                                    # class is at 0.5 (or for the whole run); 0: off
    auto_min_fit: Optional[float] = None    # start_epoch=auto: the rule counts once the training passes predict
                                    # the given label for this share of samples; None: 0.9 under task=robust
                                    # (clean labels), 0 (off) otherwise
    auto_max_changes: Optional[float] = None    # start_epoch=auto: the rule counts once at most this share of the
                                    # training predictions changed class in the last epoch; None: 0.4 (sat),
                                    # 1 = off (sat_selective)
    auto_min_concentration: Optional[float] = None  # start_epoch=auto: below this concentration of the training
                                    # passes' disagreements with the given labels (1: spread evenly, as under
                                    # uniform noise; K-1: pair noise) SAT waits for a sign of memorisation
                                    # (Label Wave's PC minimum, or the noisy validation plateau); None: 1.3
                                    # (sat), off under task=robust; 0 = off
    variant: Optional[str] = None   # SAT: sce | ce (the paper's form); None: sce, ce under task=robust
    view_target: str = "cross_view"  # sat_ssl: cross_view (each view regresses onto the bank row averaged with
                                    # the other view's projection) | both_views (the row updated with both)
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




