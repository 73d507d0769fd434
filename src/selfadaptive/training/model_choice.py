"""Which of a run's two models to use: the last epoch's, or the one best on the validation split.

The split's best epoch is the maximum of a noisy curve, an optimistic pick; both models are scored on the
split's samples and the selected one is used only when it wins their disagreements clearly
(``engine.selection.paired_lead``; docs/benchmarks.md §12k).
"""
from __future__ import annotations

from ..engine.selection import KEEP_SELECTED_P, paired_lead, split_predictions
from ..errors import UserError


def selection_verdict(s, last_epoch: int) -> dict:
    """The summary fields saying which of the ``Session`` ``s``'s two models to use: ``selected_model.pt``
    only when it beats the last epoch's weights on the validation split's disagreements, else the last.
    Writes both models' predictions on the split (``validation.npz``), for ``sat sweep``'s paired verdict."""
    split = s.val_noisy if s.selector.key == "val_acc_noisy" else s.data.val
    args = (split, s.device, s.cfg.data.eval_batch_size, s.data.num_classes)
    with s.autocast():
        last = split_predictions(s.model, *args)
        same = s.selector.epoch == last_epoch            # one and the same weights
        try:
            selected = last if same else split_predictions(s.model, *args, weights=s.run.selected_model)
        except UserError as e:      # removed or damaged since it was written: the finished run keeps its summary
            return {"model_to_use": "last", "selection_error": str(e)}
    labels = split.y.numpy()
    s.run.write_validation(labels, last, selected)
    if same:
        return {"model_to_use": "last"}
    lead = paired_lead(selected == labels, last == labels)
    return {"selection_wins": lead["wins"], "selection_losses": lead["losses"], "selection_p_value": lead["p_value"],
            "model_to_use": "selected" if lead["keep_selected"] else "last"}


def use_line(summary: dict) -> str:
    """Which model the validation split says to use, and why (``selection_verdict``)."""
    if "selection_error" in summary:
        return f"use the last epoch's model (checkpoint.pt): the selected one could not be read ({summary['selection_error']})"
    if "selection_p_value" not in summary:
        return "use the last epoch's model (checkpoint.pt): it is the one the validation split picked"
    why = (f"the epoch-{summary['selected_epoch']} model wins {summary['selection_wins']} and loses "
           f"{summary['selection_losses']} of the validation samples on which the two disagree "
           f"(sign test p = {summary['selection_p_value']:.2g})")
    if summary["model_to_use"] == "selected":
        return f"use selected_model.pt: {why}, a clear lead (p < {KEEP_SELECTED_P})"
    return f"use the last epoch's model (checkpoint.pt): {why}, no clear lead (p >= {KEEP_SELECTED_P})"
