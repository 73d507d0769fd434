"""CIFAR-10N / CIFAR-100N human label files: read safely in every published layout, matched to the
training rows, and refused when they carry code or belong to another training set."""
import os
import pickle

import numpy as np
import pytest
import torch

from selfadaptive.config import load_config
from selfadaptive.data.labels import cifar_n_labels, load_label_sets
from selfadaptive.errors import UserError
from selfadaptive.noise.labels import LabelNoise
from selfadaptive.training.loop import train


def cifar10n_sets(clean: np.ndarray, seed: int = 0) -> dict:
    """A synthetic file with CIFAR-10N's keys: aggre ~9%, random ~17%, worse ~40% wrong."""
    rng = np.random.default_rng(seed)
    out = {"clean_label": clean.astype(np.int64)}
    for key, rate in (("aggre_label", 0.09), ("random_label1", 0.17), ("random_label2", 0.17),
                      ("random_label3", 0.17), ("worse_label", 0.4)):
        y = clean.copy()
        flip = rng.random(len(y)) < rate
        y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
        out[key] = y
    return out


@pytest.fixture
def tiny_clean(tiny_cifar10_dir):
    from selfadaptive.config import DataConfig
    from selfadaptive.data import build_data
    return build_data(DataConfig(name="cifar10", root=str(tiny_cifar10_dir))).train.y.numpy()


@pytest.mark.parametrize("layout", ["pickle2", "pickle4", "pickle5", "torch_save", "npz"])
def test_every_layout_reads_the_same_arrays(tmp_path, layout):
    sets = cifar10n_sets(np.arange(50) % 10)
    path = tmp_path / ("labels.npz" if layout == "npz" else "CIFAR-10_human.pt")
    if layout.startswith("pickle"):
        with open(path, "wb") as fh:
            pickle.dump(sets, fh, protocol=int(layout[-1]))
    elif layout == "torch_save":
        torch.save(sets, path)
    else:
        np.savez(path, **sets)
    got = load_label_sets(path)
    assert set(got) == set(sets)
    for k in sets:
        assert np.array_equal(got[k], sets[k])
    noisy, clean = cifar_n_labels("cifar10n", path, "worse")
    assert np.array_equal(noisy, sets["worse_label"]) and np.array_equal(clean, sets["clean_label"])


def test_npy_holds_one_label_set(tmp_path):
    y = np.arange(30) % 10
    np.save(tmp_path / "worse.npy", y)
    noisy, clean = cifar_n_labels("cifar10n", tmp_path / "worse.npy", "worse")
    assert np.array_equal(noisy, y) and clean is None


def test_a_pickle_that_carries_code_is_refused_not_run(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    for name, dump in (("plain.pt", lambda obj, p: pickle.dump(obj, open(p, "wb"))),
                       ("zip.pt", lambda obj, p: torch.save(obj, p))):
        dump({"clean_label": np.zeros(3, np.int64), "worse_label": Payload()}, tmp_path / name)
        with pytest.raises(UserError, match="refusing to load posix.system|refusing to load os.system"):
            load_label_sets(tmp_path / name)
    assert not (tmp_path / "pwned").exists()


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_label_sets(tmp_path / "CIFAR-10_human.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match="not a readable label file|not a plain dict"):
        load_label_sets(tmp_path / "junk.pt")
    with open(tmp_path / "list.pt", "wb") as fh:
        pickle.dump([1, 2], fh)
    with pytest.raises(UserError, match="expected a dict"):
        load_label_sets(tmp_path / "list.pt")
    with open(tmp_path / "few.pt", "wb") as fh:
        pickle.dump({"clean_label": np.zeros(3, np.int64)}, fh)
    with pytest.raises(UserError, match="no label set 'worse'"):
        cifar_n_labels("cifar10n", tmp_path / "few.pt", "worse")


def test_unknown_label_set_is_a_config_error():
    with pytest.raises(UserError, match="noise.label_set"):
        load_config(None, ["noise.kind=cifar10n", "noise.label_set=bad"])
    with pytest.raises(UserError, match="apply to noise.kind=cifar10n"):
        load_config(None, ["noise.label_set=worse"])


def test_training_with_cifar10n_labels(tmp_path, tiny_cifar10_dir, tiny_clean):
    sets = cifar10n_sets(tiny_clean)
    with open(tiny_cifar10_dir / "CIFAR-10_human.pt", "wb") as fh:
        pickle.dump(sets, fh, protocol=2)
    overrides = [f"data.root={tiny_cifar10_dir}", "data.name=cifar10", "noise.kind=cifar10n", "noise.label_set=worse",
                 "model.name=cnn", "model.base_width=8", "optim.epochs=2", "loss.start_epoch=1", "log.progress=false",
                 "data.batch_size=25", "data.val_size=20"]
    summary = train(load_config(None, overrides), tmp_path / "r", quiet=True)
    noise = LabelNoise.load(tmp_path / "r" / "noise.npz")
    # the 80 training rows are the first 80 of the file; the last 20 are the validation split
    assert np.array_equal(noise.noisy_labels, sets["worse_label"][:80])
    assert np.array_equal(noise.clean_labels, tiny_clean[:80])
    assert noise.kind == "cifar10n" and summary["num_noisy"] == int((sets["worse_label"][:80] != tiny_clean[:80]).sum())
    assert "detection_auroc" in summary
    # a file for another training order is refused with one line
    shuffled = {k: v[::-1].copy() for k, v in sets.items()}
    np.savez(tmp_path / "other.npz", **shuffled)
    with pytest.raises(UserError, match="clean_label disagrees"):
        train(load_config(None, overrides + [f"noise.label_file={tmp_path / 'other.npz'}"]), tmp_path / "r2", quiet=True)
    np.savez(tmp_path / "short.npz", **{k: v[:50] for k, v in sets.items()})
    with pytest.raises(UserError, match="holds 50 labels"):
        train(load_config(None, overrides + [f"noise.label_file={tmp_path / 'short.npz'}"]), tmp_path / "r3", quiet=True)
