"""A run's corruption built from its config: drawn, reused from a file, or read from CIFAR-N; its
noisy validation copy; and the one-line description printed at the start of a run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..data import ArrayDataset, DataBundle
from ..data.labels import CIFAR_N_DEFAULT_SET, CIFAR_N_FILES, cifar_n_labels
from ..errors import UserError
from ..noise.images import corrupt_images
from ..noise.labels import GIVEN_NOISE_KINDS, IMAGE_NOISE_KINDS, LabelNoise, asymmetric_map, corrupt_labels


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
    features = data.train.x.numpy() if cfg.noise.kind == "instance" else None
    return corrupt_labels(train_labels, data.num_classes, cfg.noise.rate, cfg.noise.kind, seed=seed, class_map=class_map,
                          features=features)


#: added to the noise seed for the validation copy, so that it is drawn apart from the training noise
VAL_NOISE_SEED_OFFSET = 1_000_003


def noisy_validation(cfg: Config, data: DataBundle, noise: LabelNoise):
    """The validation split corrupted by the same rule as the training set, for the training-dynamics
    curves (the paper's Fig. 1): labels redrawn for label noise, images replaced for image
    corruptions.  None without a validation split or synthetic noise.  A pure function of the
    config, so a resumed run rebuilds the same copy."""
    val = data.val
    if val is None or len(val) == 0 or noise.rate <= 0 or cfg.noise.file:
        return None
    seed = (cfg.seed if cfg.noise.seed is None else cfg.noise.seed) + VAL_NOISE_SEED_OFFSET
    if noise.kind in IMAGE_NOISE_KINDS:
        copy = corrupt_images(val.x.numpy(), val.y.numpy(), noise.rate, noise.kind, seed=seed)
        return ArrayDataset(torch.from_numpy(copy.apply_images(val.x.numpy())), val.y)
    if noise.kind in ("uniform", "flip", "asymmetric", "instance"):
        class_map = asymmetric_map(data.num_classes, data.class_names, data.info.get("coarse_of_class"))
        copy = corrupt_labels(val.y.numpy(), data.num_classes, noise.rate, noise.kind, seed=seed, class_map=class_map,
                              features=val.x.numpy() if noise.kind == "instance" else None)
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
