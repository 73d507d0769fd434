import atexit
import os
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    link_data_home,
    shared_file,
    write_cifar10_folder,
    write_cifar100_folder,
    write_image_folder,
    write_svhn_folder,
)

# Tests compare bit-exact results between processes; keep the thread count fixed.
torch.set_num_threads(int(os.environ.get("SAT_TEST_THREADS", "2")))


def pytest_configure(config):
    """Presets name data sets, not paths; the suite finds them where a user without internet keeps
    them: a data home of prepared copies named by ``$SAT_DATA_ROOT`` (set by hand, it is kept)."""
    if not os.environ.get("SAT_DATA_ROOT"):
        home = Path(tempfile.mkdtemp(prefix="sat-data-home-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["SAT_DATA_ROOT"] = str(link_data_home(home))


def _global_state() -> dict:
    """Process-wide settings a test can change and leave behind for the tests after it."""
    return {
        "num_threads": torch.get_num_threads(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "default_dtype": torch.get_default_dtype(),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "grad_enabled": torch.is_grad_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "signals": {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)},
        "cwd": os.getcwd(),
        "environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},   # pytest's own
    }


def _restore(state: dict) -> None:
    torch.set_num_threads(state["num_threads"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    torch.use_deterministic_algorithms(state["deterministic"][0], warn_only=state["deterministic"][1])
    torch.set_default_dtype(state["default_dtype"])
    torch.set_float32_matmul_precision(state["matmul_precision"])
    torch.set_grad_enabled(state["grad_enabled"])
    torch.autograd.set_detect_anomaly(state["anomaly"])
    for sig, handler in state["signals"].items():
        if handler is not None:
            signal.signal(sig, handler)
    os.chdir(state["cwd"])
    for key in set(os.environ) - set(state["environ"]) - {"PYTEST_CURRENT_TEST"}:
        del os.environ[key]
    os.environ.update(state["environ"])


def _changed(before: dict, after: dict) -> list[str]:
    same = {"torch_rng": torch.equal,
            "numpy_rng": lambda a, b: all(np.array_equal(u, v) for u, v in zip(a, b))}
    return [key for key in before if not same.get(key, lambda a, b: a == b)(before[key], after[key])]


@pytest.fixture(autouse=True)
def isolated_global_state(request):
    """Every test starts from the same process-wide state and leaves none behind.

    A test that changes the thread count, an RNG, a torch flag, a signal handler, the working folder
    or the environment used to leak it into the tests after it, whose results (bit-exact comparisons,
    accuracy bounds) then depended on the order the suite ran in.  The state is restored after each
    test; ``SAT_TEST_REPORT_LEAKS=FILE`` also appends which test changed what (RNG draws excepted,
    since most tests draw), to find the culprits.
    """
    before = _global_state()
    yield
    after = _global_state()
    report = os.environ.get("SAT_TEST_REPORT_LEAKS") or before["environ"].get("SAT_TEST_REPORT_LEAKS")
    leaked = [k for k in _changed(before, after) if k not in ("torch_rng", "numpy_rng", "python_rng")]
    if report and leaked:
        with open(report, "a") as fh:
            fh.write(f"{request.node.nodeid}: {', '.join(leaked)}\n")
    _restore(before)
    if "torch._dynamo" in sys.modules and "compile" in request.node.nodeid:
        torch._dynamo.reset()           # compiled graphs and guards hold on to the test's modules


@pytest.fixture
def tiny_overrides():
    """A run of a few seconds on digits: small MLP, few epochs, SAT starting at epoch 1."""
    return ["model.base_width=64", "optim.epochs=4", "loss.start_epoch=1", "log.progress=false",
            "optim.lr=0.05", "data.batch_size=32"]




@pytest.fixture(scope="session")
def shared_cifar10():
    with np.load(shared_file("cifar10_from_jpeg.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def tiny_cifar10_dir(tmp_path_factory, shared_cifar10):
    """A CIFAR-10 python-format folder of 100 train / 20 test images sampled from the shared copy."""
    d = shared_cifar10
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(d["y_train"]), 100, replace=False))
    te = np.sort(rng.choice(len(d["y_test"]), 20, replace=False))
    root = tmp_path_factory.mktemp("cifar10")
    chw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))
    return write_cifar10_folder(root, chw(d["x_train"][tr]), d["y_train"][tr], chw(d["x_test"][te]), d["y_test"][te],
                                [str(c) for c in d["classes"]])


@pytest.fixture(scope="session")
def tiny_cifar100_dir(tmp_path_factory):
    return write_cifar100_folder(tmp_path_factory.mktemp("cifar100"))


@pytest.fixture(scope="session")
def tiny_svhn_dir(tmp_path_factory):
    return write_svhn_folder(tmp_path_factory.mktemp("svhn"))


@pytest.fixture(scope="session")
def tiny_image_dir(tmp_path_factory):
    pytest.importorskip("PIL")
    return write_image_folder(tmp_path_factory.mktemp("dogscats"))




