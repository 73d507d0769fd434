"""Helpers the tests share (fixtures live in conftest.py): shared-data lookup, writers of tiny data
sets in the official on-disk layouts, and a stand-in for a signal after N training steps."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from selfadaptive.engine.runtime import StopSignals

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


#: the data home the suite points SAT_DATA_ROOT at: prepared copies named as a user would keep them
DATA_HOME_LINKS = {"cifar10.npz": SHARED_DATA / "cifar10_from_jpeg.npz", "mnist.npz": SHARED_DATA / "mnist.npz",
                   "fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


#: the least a ``task=robust`` config needs to load (clean labels, an attack, a validation split)
ROBUST_OVERRIDES = ["task=robust", "noise.kind=none", "adversarial.eps=0.1", "adversarial.step_size=0.03",
                    "data.val_fraction=0.1"]


def link_data_home(folder: Path) -> Path:
    """``folder`` with links to this machine's local copies (those that exist): what a user without
    internet does once, so that presets naming data sets find them through ``$SAT_DATA_ROOT``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in DATA_HOME_LINKS.items():
        if target.exists() and not (folder / name).exists():
            (folder / name).symlink_to(target)
    return folder


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"shared data {path} not present")
    return path


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_cifar10_folder(root: Path, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                         classes) -> Path:
    """Write arrays in the official CIFAR-10 python layout (5 train batches, test batch, meta)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    flat = x.reshape(len(x), -1)
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        _dump(folder / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                           b"labels": [int(v) for v in y[part]], b"data": flat[part],
                                           b"filenames": [f"img{j}.png".encode() for j in part]})
    _dump(folder / "test_batch", {b"labels": [int(v) for v in y_test], b"data": x_test.reshape(len(x_test), -1)})
    _dump(folder / "batches.meta", {b"label_names": [c.encode() for c in classes], b"num_vis": 3072})
    return root


def write_cifar100_folder(root: Path, n_train: int = 40, n_test: int = 10, seed: int = 0) -> Path:
    """A tiny synthetic folder in the official CIFAR-100 python layout."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    coarse_of = np.arange(100) % 20
    for name, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, n)
        _dump(folder / name, {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                              b"fine_labels": fine.tolist(), b"coarse_labels": coarse_of[fine].tolist()})
    _dump(folder / "meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)],
                            b"coarse_label_names": [f"s{i}".encode() for i in range(20)]})
    return root


def write_svhn_folder(root: Path, n_train: int = 12, n_test: int = 6, seed: int = 0) -> Path:
    """Tiny train_32x32.mat / test_32x32.mat in the official layout: X (32, 32, 3, N), y (N, 1) in 1..10."""
    from scipy.io import savemat
    rng = np.random.default_rng(seed)
    for name, n in (("train", n_train), ("test", n_test)):
        savemat(root / f"{name}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                              "y": (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)})
    return root


def write_image_folder(root: Path, per_class: int = 4, size: int = 20, seed: int = 0, split_test: bool = True) -> Path:
    """root/train/{cat,dog}/*.png (and root/test/...) of random images of varying size."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split in (("train", "test") if split_test else ("train",)):
        for cls in ("cat", "dog"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 256, (size + i, size, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{cls}.{i}.png")
    return root


class StopAfter(StopSignals):
    """Acts as if SIGTERM arrived after ``n`` training steps; patch it over ``trainer.StopSignals``."""
    n = 0

    @property
    def requested(self):
        StopAfter.n -= 1
        if StopAfter.n < 0:
            self.signum = 15
            return True
        return False


def write_stl10(root, n_train=20, n_test=10, n_unlabeled=30, seed=0):
    """root/stl10_binary/*.bin: images column-major per channel, labels 1..10; returns the images as (N, 3, 96, 96)."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    images = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        x = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        x[:, 0, 0, 1] = 255     # a marker off the diagonal, so that a transposed read is caught
        x[:, 0, 1, 0] = 0
        (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        images[split] = x
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes((np.arange(n) % 10 + 1).astype(np.uint8).tobytes())
    return images


class SatTrainRun:
    """One `sat train` run on the digits default (5 epochs, SAT from ``start_epoch``), ranked from its
    folder as `sat issues` does, with what a hand-written loop needs to replay the same training:
    a copy of the initial model, the noisy labels, the config and ``batch_order(epoch)``, the batches
    the trainer took.  The recipes (own loop, Lightning, Hugging Face) must rank exactly as it does."""

    def __init__(self, out: Path, start_epoch: int):
        import copy

        import torch

        from selfadaptive.config import load_config
        from selfadaptive.data import build_data
        from selfadaptive.issues.evaluate import issues_from_run
        from selfadaptive.models import build_classifier
        from selfadaptive.training.loop import train
        from selfadaptive.training.noise import make_noise
        self.cfg = load_config(None, ["optim.epochs=5", f"loss.start_epoch={start_epoch}", "model.base_width=64",
                                      "log.progress=false", "optim.lr=0.05", "data.batch_size=32",
                                      "optim.momentum=0.9", "optim.weight_decay=5e-4", "optim.nesterov=false",
                                      "optim.schedule=cosine", "loss.momentum=0.9"])
        self.start_epoch = start_epoch
        self.data = build_data(self.cfg.data)
        torch.manual_seed(0)
        model = build_classifier(self.cfg.model, "classes", self.data.num_classes, self.data.input_shape,
                                 self.data.mean, self.data.std)
        self.initial_model = copy.deepcopy(model)
        train(self.cfg, out, model=model, data=self.data, quiet=True)
        self.found = issues_from_run(out)
        self.expected = self.found.issues
        self.labels = torch.from_numpy(make_noise(self.cfg, self.data).noisy_labels)

    def batch_order(self, epoch: int):
        from selfadaptive.data import batches
        from selfadaptive.engine.schedules import epoch_order
        n = len(self.labels)
        return batches(n, self.cfg.data.batch_size, epoch_order(n, self.cfg.seed, epoch))

    def batch_sampler(self):
        """The trainer's batches as a ``DataLoader`` batch sampler: each pass over it is the next epoch."""
        run = self

        class EpochBatches:
            def __init__(self):
                self.epoch = 0

            def __len__(self):
                return -(-len(run.labels) // run.cfg.data.batch_size)

            def __iter__(self):
                epoch, self.epoch = self.epoch, self.epoch + 1
                return (b.tolist() for b in run.batch_order(epoch))
        return EpochBatches()

    def assert_same_ranking(self, got) -> None:
        import numpy as np
        expected = self.expected
        assert np.ptp(expected.score) > 0.1 and len(np.unique(expected.score)) > 1000       # a ranking, not ties
        assert np.array_equal(got.index, expected.index), self.start_epoch
        for column in ("score", "given_mass", "suggested_mass", "margin"):
            assert np.allclose(getattr(got, column), getattr(expected, column), atol=1e-6, rtol=0), \
                (self.start_epoch, column, np.abs(getattr(got, column) - getattr(expected, column)).max())
        assert np.array_equal(got.suggested_label, expected.suggested_label)
        assert np.array_equal(got.first_flagged_epoch, expected.first_flagged_epoch)
