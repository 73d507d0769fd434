"""``sat audit DATA --out DIR``: from a user's data to the three answers -- which labels are wrong,
what they should be, and a model trained despite them -- in one command.

``DATA`` is an image folder (class folders, or ``train/`` and ``test/``), a ``.csv`` table, an
``.npz`` of arrays, or a data set name (``mnist``, ``cifar10``, ...).  The audit trains SAT with
the automatic start epoch (``loss.start_epoch=auto``) and keeps the epoch that does best on a
validation split of the data's own, noisy labels (``selected_model.pt``), to be used where it clearly
beats the last epoch's weights there (``model_to_use``): no clean labels are needed anywhere.  ``DIR``
is an ordinary run folder plus

* ``label_issues.csv``: every training sample, most suspicious first, with its ``path``;
* ``held_out_label_issues.csv``: the samples held out for validation and test (19% by default),
  ranked by the kept model's probability on their label: out-of-sample, so every label the user
  gave is checked;
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
    from ..data import build_data
    from ..issues.evaluate import export_labels, issues_from_run, write_report
    from ..training.loop import train
    from .audit_page import write_audit_page

    cfg = audit_config(data, overrides)
    RunDir(Path(out)).require_new()             # before any work: nothing on disk is ever overwritten
    data = build_data(cfg.data)                 # read once (decoding a folder is much of an audit's time)
    summary = train(cfg, out, data=data, quiet=quiet)
    run = RunDir(out).require()
    found = issues_from_run(run.path)
    write_report(run, found)
    exported = export_labels(found, run.path / "corrected_labels.csv")      # `sat issues --export`'s defaults
    held_out = rank_held_out(run, cfg, data)
    page = write_audit_page(run, found, summary, top=top)
    li = found.issues
    return {"run": str(run.path), "num_samples": len(li), "num_flagged": int(li.flagged.sum()),
            "num_held_out": len(held_out), "num_held_out_flagged": int(sum(r["flagged"] for r in held_out)),
            "num_changed": exported["num_changed"], "page": str(page), "summary": summary,
            "start_epoch_chosen": summary.get("start_epoch_chosen"), "metrics": found.metrics,
            "flagged_fraction": float(np.mean(li.flagged)) if len(li) else 0.0}


def audit_lines(result: dict, quiet: bool = False) -> list[str]:
    """What ``sat audit`` prints of ``audit``'s ``result``: the three answers, where they are, and the page."""
    from ..training.model_choice import use_line

    s, run, start = result["summary"], Path(result["run"]), result["start_epoch_chosen"]
    lines = [f"{result['num_flagged']} of {result['num_samples']} training labels look wrong (ranked: "
             f"{run / 'label_issues.csv'}); {result['num_changed']} confident fixes in {run / 'corrected_labels.csv'}"]
    if result["num_held_out"]:
        lines.append(f"{result['num_held_out_flagged']} of the {result['num_held_out']} labels held out for validation "
                     f"and test disagree with the kept model ({run / 'held_out_label_issues.csv'})")
    lines.append("SAT started at epoch " + (str(start) if start is not None else "- (its rule never fired: the run is "
                                                                                  "plain CE)")
                 + f"; test accuracy {100 * s['test_acc_last']:.2f}% at the last epoch"
                 + (f", {100 * s['test_acc_at_selected']:.2f}% at epoch {s['selected_epoch']} (best on your validation "
                    f"labels)" if s.get("selected_epoch") is not None else ""))
    if s.get("model_to_use") is not None and quiet:       # otherwise the training's headline said it
        lines.append(use_line(s))
    lines.append(f"page: {result['page']}")
    return lines


HELD_OUT_COLUMNS = ("rank", "split", "source_index", "path", "given_label", "suggested_label", "score", "given_prob",
                    "suggested_prob", "flagged")


def rank_held_out(run: RunDir, cfg, data=None) -> list[dict]:
    """Rank the validation and test samples (those the bank never saw) by the kept model's
    probability on their label, write ``held_out_label_issues.csv`` and return its rows.

    The kept model is ``RunDir.model_to_use``: ``selected_model.pt`` (best on the noisy validation split)
    when it clearly beats the last epoch's there, else the last checkpoint.  Its predictions on these
    samples are out-of-sample, as cleanlab's are, so the score is ``1 - p(given label)``; the suggestion
    is the predicted class, and a row is flagged when that differs from the given label.  A test set
    from separate files (a ``test/`` folder, ``data.test_path``) has no rows in the source and is ranked
    without paths.
    """
    import torch

    from ..data import build_data
    from ..engine.checkpoint import load_checkpoint
    from ..engine.evaluation import logits_of
    from ..issues.ranking import write_rows_csv
    from ..issues.tracker import prediction_record
    from ..losses import loss_spec
    from ..models import build_classifier

    data = build_data(cfg.data) if data is None else data
    model = build_classifier(cfg.model, loss_spec(cfg.loss.name).head, data.num_classes, data.input_shape,
                             data.mean, data.std)
    kept = run.model_to_use()
    model.load_state_dict(load_checkpoint(kept, map_location="cpu")["model"])
    paths = run.read_source_paths()
    rows = []
    for split, ds in (("val", data.val), ("test", data.test)):
        if ds is None or len(ds) == 0:
            continue
        named = split == "val" or data.info.get("test_from_source", False)
        given = ds.y.long()
        given_prob, suggested, suggested_prob = prediction_record(logits_of(model, ds.x, torch.device("cpu")), given,
                                                                  data.num_classes)
        for i in range(len(ds)):
            source = int(ds.source_index[i])
            rows.append({"split": split, "source_index": source if named else "",
                         "path": paths[source] if named and paths is not None else "",
                         "given_label": data.class_names[int(given[i])],
                         "suggested_label": data.class_names[int(suggested[i])],
                         "score": 1.0 - float(given_prob[i]), "given_prob": float(given_prob[i]),
                         "suggested_prob": float(suggested_prob[i]), "flagged": int(suggested[i] != given[i])})
    rows.sort(key=lambda r: -r["score"])
    rows = [{"rank": rank, **row} for rank, row in enumerate(rows, 1)]
    write_rows_csv(run.path / "held_out_label_issues.csv", HELD_OUT_COLUMNS, rows)
    return rows
