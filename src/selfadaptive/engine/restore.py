"""A finished (or interrupted) run's model, rebuilt from its folder: what ``sat eval``, ``sat robust``
and ``sat selective`` score."""
from __future__ import annotations

from ..config import load_config
from ..data import build_data
from ..errors import UserError, first_line
from ..losses import loss_spec
from ..models import build_classifier
from .checkpoint import load_checkpoint
from .devices import resolve_device
from .runfolder import RunDir


def load_run_model(path, device: str | None = None, weights: str = "last"):
    """Rebuild run ``path``'s data and model from its folder and load its weights: ``last`` (the
    checkpoint), ``selected`` (``selected_model.pt``, best on the noisy validation split) or ``use`` (the
    one ``summary.json``'s ``model_to_use`` names, ``RunDir.model_to_use``).

    Returns ``(run, cfg, data, model, state, device)`` with the model on ``device``; ``state["file"]`` is the
    file's name.
    """
    run = RunDir(path).require()
    files = {"last": run.checkpoint, "selected": run.selected_model}
    if weights not in (*files, "use"):
        raise UserError(f"weights must be last, selected or use, got {weights!r}")
    file = run.model_to_use() if weights == "use" else files[weights]
    if weights == "selected" and not file.is_file():
        raise UserError(f"{run.path} has no selected_model.pt: it was trained without a validation split "
                        "(data.val_fraction=0) or before its first epoch ended")
    cfg = load_config(run.config)
    dev = resolve_device(device or cfg.device)
    data = build_data(cfg.data)
    model = build_classifier(cfg.model, loss_spec(cfg.loss.name).head, data.num_classes, data.input_shape, data.mean, data.std)
    state = load_checkpoint(file, map_location=dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise UserError(f"{file} does not fit the model in {run.config}: {first_line(e)}") from None
    state["file"] = file.name
    return run, cfg, data, model.to(dev), state, dev
