"""What every benchmark script shares: where results go, how they are written, mean and spread."""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
from pathlib import Path

RESULTS = Path("benchmarks") / "results"
#: this project's offline copies (docs/benchmarks.md, "Data"); elsewhere set SAT_DATA_ROOT or data.download=true
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LOCAL_COPIES = {"cifar10.npz": SHARED / "cifar10_from_jpeg.npz", "mnist.npz": SHARED / "mnist.npz",
                "fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


def use_local_data_home(folder: Path = Path(".data-home")) -> None:
    """Presets name data sets; point the data home at the local copies, unless SAT_DATA_ROOT is set."""
    if os.environ.get("SAT_DATA_ROOT"):
        return
    folder.mkdir(exist_ok=True)
    for name, target in LOCAL_COPIES.items():
        if target.exists() and not (folder / name).is_symlink():
            (folder / name).symlink_to(target)
    os.environ["SAT_DATA_ROOT"] = str(folder.resolve())


use_local_data_home()


#: SAT's form in the stored figures of the benchmarks measured before the SCE form became the default
#: (session 22), and without the memorisation gate (session 28), which none of them had: they pin both
#: first, so that their commands reproduce those figures; ``--overrides`` of ``loss.variant=sce`` and
#: ``loss.auto_min_concentration=1.3`` (which come later) run today's defaults instead
MEASURED_FORM = ["loss.variant=ce", "loss.auto_min_concentration=0"]


def split_overrides(text: str) -> list[str]:
    """``--overrides`` text -> a list of overrides: split at commas, except inside a list value
    (``optim.epochs=60,optim.milestones=[15,45]`` -> two overrides)."""
    return [o for o in re.split(r",(?![^\[]*\])", text) if o]


def result_path(name: str) -> str:
    """The default ``--out`` of a benchmark: benchmarks/results/NAME (relative to the repository root)."""
    return str(RESULTS / name)


def machine() -> dict:
    """The software and machine a figure came from, stored beside it."""
    import torch
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def read_run_folders(roots, marker: str, reading) -> dict:
    """``{folder relative to its root: reading(folder)}`` for every folder under ``roots`` (sorted) that holds
    a file named ``marker``; folders for which ``reading`` returns None are left out."""
    runs = {}
    for root in map(Path, roots):
        for found in sorted(root.rglob(marker)):
            if (r := reading(found.parent)) is not None:
                runs[str(found.parent.relative_to(root))] = r
    return runs


def write_result(path: str | Path, result, indent: int = 2) -> Path:
    """``result`` as JSON at ``path`` (folders created), with a trailing newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=indent) + "\n")
    return path


def mean_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation); the deviation is 0 for a single value."""
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
