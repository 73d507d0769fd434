"""Every shipped preset runs after `pip install`: the wheel is built from the package files alone,
installed into a fresh venv outside the repository, and every preset trains one step there on a
data home of local copies ($SAT_DATA_ROOT), with no path into this checkout or ../shared anywhere."""
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image_folder, write_stl10

from selfadaptive.config.presets import preset_paths

REPO = Path(__file__).resolve().parents[2]


def _tiny_home(home: Path) -> Path:
    """Synthetic prepared copies and official-layout folders: what a user keeps offline."""
    rng = np.random.default_rng(0)

    def prepared(name, shape, k=10, **extra):
        np.savez(home / f"{name}.npz", x_train=rng.integers(0, 256, (24, *shape), dtype=np.uint8),
                 y_train=np.arange(24) % k, x_test=rng.integers(0, 256, (12, *shape), dtype=np.uint8),
                 y_test=np.arange(12) % k, **extra)
    home.mkdir()
    prepared("mnist", (28, 28))
    prepared("fashion_mnist", (28, 28))
    prepared("cifar10", (32, 32, 3))
    prepared("svhn", (32, 32, 3))
    y100 = np.arange(100)
    np.savez(home / "cifar100.npz", x_train=rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), y_train=y100,
             x_test=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), y_test=y100[:12], coarse_train=y100 % 20)
    write_stl10(home)                 # the official binaries: the SSL presets also read the unlabeled images
    write_image_folder(home / "dogs-vs-cats", per_class=8)
    return home


@pytest.mark.slow
def test_every_preset_trains_one_step_from_a_fresh_install(tmp_path):
    pytest.importorskip("PIL")
    # the wheel, built from a copy of the files a release ships, not from the checkout in place
    src = tmp_path / "src-copy"
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("selfadaptive-*.whl"))
    # a fresh venv; its dependencies (torch, numpy, ...) come from this one, never the package itself
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    Path(purelib, "deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", purelib,
                    str(wheel)], check=True, capture_output=True)
    home = _tiny_home(tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(SAT_DATA_ROOT=str(home), OMP_NUM_THREADS="1")
    # two shards side by side, one thread each: one-step runs on batches of 8 use a second thread
    # poorly.  Run folders go to memory when there is room: checkpoints are most of the I/O.
    runs = Path(tempfile.mkdtemp(prefix="sat-presets-", dir=_scratch(tmp_path)))
    try:
        shards = [subprocess.Popen([str(python), "-I", str(Path(__file__).with_name("preset_smoke.py")), str(runs),
                                    str(k), "2"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for k in range(2)]
        outputs = [p.communicate(timeout=1500) for p in shards]
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    ran, configs = [], {}
    for p, (stdout, stderr) in zip(shards, outputs):
        assert p.returncode == 0, stderr[-3000:]
        result = json.loads(stdout.strip().splitlines()[-1])
        assert Path(result["module"]).is_relative_to(purelib), result["module"]    # the installed copy, not src/
        assert result["failures"] == {}
        ran += result["ran"]
        configs.update(result["configs"])
    assert sorted(ran) == sorted(preset_paths())
    for name in ran:
        assert str(REPO) not in configs[name] and "shared" not in configs[name], name


def _scratch(tmp_path: Path) -> Path:
    """/dev/shm when it has room for the largest run folders (a container's may have 64 MB), else tmp_path."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * 2**30:
            return shm
    except OSError:
        pass
    return tmp_path
