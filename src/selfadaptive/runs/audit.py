"""``sat audit DATA --out DIR``: from a user's data to the three answers -- which labels are wrong,
what they should be, and a model trained despite them -- in one command.

``DATA`` is an image folder (class folders, or ``train/`` and ``test/``), a ``.csv`` table, an
``.npz`` of arrays, or a data set name (``mnist``, ``cifar10``, ...).  The audit trains SAT with
the automatic start epoch (``loss.start_epoch=auto``) and keeps the epoch that does best on a
validation split of the data's own, noisy labels (``selected_model.pt``): no clean labels are
needed anywhere.  ``DIR`` is an ordinary run folder plus

* ``label_issues.csv``: every training sample, most suspicious first, with its ``path``;
* ``corrected_labels.csv``: every training label, with the suggestion where it is confident
  (``sat train ... data.labels=DIR/corrected_labels.csv`` retrains on them);
* ``audit.html``: the most suspicious samples with given and suggested labels, the score
  histogram and the learning curves, readable offline (``audit_page``).

Defaults depend on the input (``defaults_for``); any ``key=value`` override wins over them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import load_config
from ..config.validation import CHOICES
from ..engine.runfolder import RunDir
from ..errors import UserError

#: data sets of images large enough for the CNN (digits' 8x8 images get the MLP)
IMAGE_SOURCES = ("image_folder", "dogs_vs_cats", "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "stl10")
#: what every audit starts from: SAT with the automatic start, model selection on noisy labels
#: (a test split of 10%, not 25%: held-out samples are not ranked, and the user wants their labels checked)
COMMON = ["task=classify", "loss.name=sat", "loss.start_epoch=auto", "noise.kind=none", "data.val_fraction=0.1",
          "data.test_fraction=0.1", "optim.name=sgd", "optim.lr=0.05", "optim.momentum=0.9",
          "optim.weight_decay=0.0005", "optim.epochs=30", "optim.schedule=cosine", "data.batch_size=64"]
#: images: a small CNN (width 16: 10,000 32x32 images in about 3 minutes on 2 cores, detection AUROC as
#: good as width 32 for 40 epochs, docs/benchmarks.md §14) at 32 pixels, random crops (no flips: they
#: change digits and text)
IMAGES = ["model.name=cnn", "model.base_width=16", "data.augment=crop", "data.crop_padding=2"]
#: tables: a two-layer MLP
TABLES = ["model.name=mlp"]


def source_overrides(data: str) -> list[str]:
    """The ``data.*`` overrides that read ``data``: a folder, a .csv, a .npz or a data set name."""
    path = Path(data)
    if path.is_dir():
        return ["data.name=image_folder", f"data.root={path}", "data.image_size=32"]
    if path.suffix.lower() == ".csv":
        return ["data.name=csv", f"data.root={path}"]
    if path.suffix.lower() == ".npz":
        return ["data.name=npz", f"data.root={path}"]
    if data in CHOICES["data.name"] and data not in ("npz", "csv", "image_folder"):
        return [f"data.name={data}"]
    if path.exists():
        raise UserError(f"sat audit reads an image folder, a .csv or an .npz file; {data} is none of these")
    raise UserError(f"{data}: no such file or folder, and not a data set name "
                    f"({', '.join(n for n in CHOICES['data.name'] if n not in ('npz', 'csv', 'image_folder'))})")


def _is_table(overrides: list[str]) -> bool:
    name = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.name="))
    if name == "csv":
        return True
    if name == "npz":
        root = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.root="))
        from ..data.sources import load_npz_arrays
        return load_npz_arrays(root)["x_train"].ndim == 2
    return name not in IMAGE_SOURCES


def audit_config(data: str, overrides: list[str]):
    """The audit's config: COMMON, the defaults for the input kind, the source, then the user's overrides."""
    source = source_overrides(data)
    kind = TABLES if _is_table(source) else IMAGES
    return load_config(None, COMMON + kind + source + list(overrides))


def audit(data: str, out: str | Path, overrides: list[str] = (), quiet: bool = False, top: int = 48) -> dict:
    """Train, rank and write the audit of ``data`` into run folder ``out``; returns a summary of it."""
    from ..issues.evaluate import export_labels, issues_from_run, write_report
    from ..training.loop import train
    from .audit_page import write_audit_page

    cfg = audit_config(data, overrides)
    RunDir(Path(out)).require_new()             # before any work: nothing on disk is ever overwritten
    summary = train(cfg, out, quiet=quiet)
    run = RunDir(out).require()
    found = issues_from_run(run.path)
    write_report(run, found)
    exported = export_labels(found, run.path / "corrected_labels.csv")      # `sat issues --export`'s defaults
    page = write_audit_page(run, found, summary, top=top)
    li = found.issues
    return {"run": str(run.path), "num_samples": len(li), "num_flagged": int(li.flagged.sum()),
            "num_changed": exported["num_changed"], "page": str(page), "summary": summary,
            "start_epoch_chosen": summary.get("start_epoch_chosen"), "metrics": found.metrics,
            "flagged_fraction": float(np.mean(li.flagged)) if len(li) else 0.0}
