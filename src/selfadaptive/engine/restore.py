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


def load_run_model(path, device: str | None = None):
    """Rebuild run ``path``'s data and model from its folder and load its checkpoint.

    Returns ``(run, cfg, data, model, state, device)`` with the model on ``device``.
    """
    run = RunDir(path).require()
    cfg = load_config(run.config)
    dev = resolve_device(device or cfg.device)
    data = build_data(cfg.data)
    model = build_classifier(cfg.model, loss_spec(cfg.loss.name).head, data.num_classes, data.input_shape, data.mean, data.std)
    state = load_checkpoint(run.checkpoint, map_location=dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise UserError(f"{run.checkpoint} does not fit the model in {run.config}: {first_line(e)}") from None
    return run, cfg, data, model.to(dev), state, dev
