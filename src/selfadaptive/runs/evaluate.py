"""``sat eval RUN``: rebuild a run's data and model from its folder and score its weights (the last
epoch's, the selected model, or the one the run says to use)."""
from __future__ import annotations

from ..engine.evaluation import evaluate_on
from ..engine.restore import load_run_model
from ..errors import UserError


def evaluate_run(path, split: str = "all", device: str | None = None, weights: str = "last") -> dict:
    """Accuracy of the run's ``weights`` (``last``: RUN/checkpoint.pt; ``selected``: RUN/selected_model.pt;
    ``use``: the one its summary's ``model_to_use`` names) on the run's test (and val/train) split(s).

    ``train`` accuracy is measured against the *clean* training labels when RUN/noise.npz has them.
    ``epoch``: the index (as in metrics.jsonl) of the epoch the weights ended.
    Per split: ``accuracy``, ``balanced_accuracy`` (mean recall over the classes present) and
    ``per_class_accuracy`` ((K,) list, None for a class without samples).
    """
    run, cfg, data, model, state, dev = load_run_model(path, device, weights)
    splits = {"test": data.test, "val": data.val, "train": data.train}
    wanted = list(splits) if split == "all" else [split]
    if split == "val" and data.val is None:
        raise UserError(f"{run.path} was trained without a validation split (data.val_fraction=0)")
    # the checkpoint counts the epochs done; the selected model's file holds its epoch's index (metrics.jsonl's)
    epoch = int(state["epoch"]) - 1 if state["file"] == run.checkpoint.name else int(state["epoch"])
    result = {"run": str(run.path), "model": state["file"], "epoch": epoch, "class_names": list(data.class_names),
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
