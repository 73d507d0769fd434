"""``sat eval RUN``: rebuild a run's data and model from its folder and score its checkpoint."""
from __future__ import annotations

from ..engine.evaluation import evaluate_on
from ..engine.restore import load_run_model
from ..errors import UserError


def evaluate_run(path, split: str = "all", device: str | None = None) -> dict:
    """Accuracy of RUN/checkpoint.pt on the run's test (and val/train) split(s).

    ``train`` accuracy is measured against the *clean* training labels when RUN/noise.npz has them.
    Per split: ``accuracy``, ``balanced_accuracy`` (mean recall over the classes present) and
    ``per_class_accuracy`` ((K,) list, None for a class without samples).
    """
    run, cfg, data, model, state, dev = load_run_model(path, device)
    splits = {"test": data.test, "val": data.val, "train": data.train}
    wanted = list(splits) if split == "all" else [split]
    if split == "val" and data.val is None:
        raise UserError(f"{run.path} was trained without a validation split (data.val_fraction=0)")
    result = {"run": str(run.path), "epoch": int(state["epoch"]), "class_names": list(data.class_names),
              "accuracy": {}, "balanced_accuracy": {}, "per_class_accuracy": {}, "size": {}}
    for name in wanted:
        ds = splits[name]
        if ds is None:
            continue
        found = evaluate_on(model, ds, dev, cfg.data.eval_batch_size, data.num_classes)
        result["accuracy"][name] = found["acc"]
        result["balanced_accuracy"][name] = found["balanced_acc"]
        result["per_class_accuracy"][name] = found["per_class_acc"]
        result["size"][name] = len(ds)
    run.write_json(run.path / "eval.json", result)
    return result
