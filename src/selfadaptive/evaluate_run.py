"""``sat eval RUN``: rebuild a run's data and model from its folder and score its checkpoint."""
from __future__ import annotations

from .checkpoint import load_checkpoint
from .config import load_config
from .data import build_data
from .devices import resolve_device
from .errors import UserError, first_line
from .evaluation import accuracy_on
from .models import build_classifier
from .runfolder import RunDir


def load_run_model(path, device: str | None = None):
    """Rebuild run ``path``'s data and model from its folder and load its checkpoint.

    Returns ``(run, cfg, data, model, state, device)`` with the model on ``device``.
    """
    run = RunDir(path).require()
    cfg = load_config(run.config)
    dev = resolve_device(device or cfg.device)
    data = build_data(cfg.data)
    model = build_classifier(cfg.model, cfg.loss.name, data.num_classes, data.input_shape, data.mean, data.std)
    state = load_checkpoint(run.checkpoint, map_location=dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise UserError(f"{run.checkpoint} does not fit the model in {run.config}: {first_line(e)}") from None
    return run, cfg, data, model.to(dev), state, dev


def evaluate_run(path, split: str = "all", device: str | None = None) -> dict:
    """Accuracy of RUN/checkpoint.pt on the run's test (and val/train) split(s).

    ``train`` accuracy is measured against the *clean* training labels when RUN/noise.npz has them.
    """
    run, cfg, data, model, state, dev = load_run_model(path, device)
    splits = {"test": data.test, "val": data.val, "train": data.train}
    wanted = list(splits) if split == "all" else [split]
    if split == "val" and data.val is None:
        raise UserError(f"{run.path} was trained without a validation split (data.val_fraction=0)")
    result = {"run": str(run.path), "epoch": int(state["epoch"]), "accuracy": {}, "size": {}}
    for name in wanted:
        ds = splits[name]
        if ds is None:
            continue
        result["accuracy"][name] = accuracy_on(model, ds, dev, cfg.data.eval_batch_size, data.num_classes)
        result["size"][name] = len(ds)
    run.write_json(run.path / "eval.json", result)
    return result
