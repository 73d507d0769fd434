"""What a supervised run writes as it goes: one metrics row per epoch, the summary and its headline."""
from __future__ import annotations

import time

import torch

from .. import functional as SF
from ..errors import UserError
from ..issues import detection_metrics
from ..losses.warm_up import WarmUp
from .model_choice import selection_verdict, use_line
from .session import Session, say


def log_row(s: Session, row: dict) -> None:
    """Append an epoch's metrics to metrics.jsonl (and TensorBoard); rank 0 only."""
    if not s.dist.is_main:
        return
    s.run.append_metrics(row)
    if s.tensorboard is not None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                s.tensorboard.add_scalar(key, value, row["epoch"])
        s.tensorboard.flush()


#: seconds between two progress lines when the output is not a terminal (the first and last epoch always print)
PROGRESS_EVERY_S = 10.0


def progress_line(s: Session, row: dict, epochs: int) -> None:
    """``log.progress`` when stderr is not a terminal (logs, CI, make demo in a pipe), where the
    progress bar turns itself off: one line per epoch, at most every ``PROGRESS_EVERY_S``."""
    now = time.time()
    last = row["epoch"] + 1 == epochs
    if not s.progress_lines or not (last or row["epoch"] == 0 or now - s.last_progress >= PROGRESS_EVERY_S):
        return
    s.last_progress = now
    left = row["time_s"] / (row["epoch"] + 1) * (epochs - row["epoch"] - 1)
    eta = "" if last else f"; about {left / 60:.1f} min left" if left >= 60 else f"; about {left:.0f} s left"
    say(s, f"epoch {row['epoch'] + 1}/{epochs}: train loss {row['train_loss']:.4f}, train acc {row['train_acc']:.4f}, "
           f"test acc {row['test_acc']:.4f} ({row['time_s']:.0f} s{eta})")


def _frac(mask_hits: torch.Tensor) -> float | None:
    return mask_hits.float().mean().item() if mask_hits.numel() else None


def epoch_row(s: Session, epoch: int, lr: float, test: dict, val: dict | None, val_noisy: dict | None = None) -> dict:
    """One metrics.jsonl row from the ``evaluate_on`` results of the test and validation splits.
    Training-subset accuracies come from the training forward passes of this epoch (train mode,
    the inputs the model was fitted on), so they cost no extra pass."""
    loss_sum, correct, seen = s.sums.tolist()
    row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / seen, "train_acc": correct / seen,
           "test_acc": test["acc"], "test_balanced_acc": test["balanced_acc"]}
    s.test_per_class = test["per_class_acc"]        # for the summary: K numbers are too many for every row
    if "aurc" in test:
        row["test_aurc"], row["test_augrc"] = test["aurc"], test["augrc"]
    if val is not None:
        row["val_acc"] = val["acc"]
    if val_noisy is not None:       # label noise: agreement with corrupted labels; images: accuracy on corrupted images
        row["val_acc_noisy"] = val_noisy["acc"]
        if "aurc" in val:
            row["val_aurc"], row["val_augrc"] = val["aurc"], val["augrc"]
    if bool(s.noisy_mask.any()):
        noisy, clean = s.noisy_mask, ~s.noisy_mask
        pred = s.train_pred
        row["train_acc_clean"] = _frac(pred[clean] == s.clean_labels[clean])      # clean subset
        row["train_acc_noisy"] = _frac(pred[noisy] == s.clean_labels[noisy])      # noisy subset, true labels
        row["train_memorised_noisy"] = _frac(pred[noisy] == s.y_train[noisy])     # noisy subset, wrong labels
        bank = s.loss_fn.bank()
        if bank is not None:
            row["target_recovery"] = SF.target_recovery(bank, s.clean_labels.to(bank.device), noisy.to(bank.device))
        if s.tracker is not None and int(s.tracker.epochs_tracked):
            found = detection_metrics(s.tracker.scores(bank).cpu().numpy(), noisy.cpu().numpy())
            row.update({f"detection_{k}": v for k, v in found.items() if k != "k"})
    auto_start_fields(s, epoch, row)
    row["time_s"] = s.elapsed + time.time() - s.t0
    return row


def auto_start_fields(s: Session, epoch: int, row: dict) -> None:
    """``start_epoch=auto``: log this epoch's prediction changes and whether SAT has started; say
    when SAT starts."""
    sat = WarmUp.within(s.loss_fn)
    if sat is None or sat.auto is None:
        return
    auto = sat.auto
    if not auto.started:
        changed, compared = auto.epoch_counts()
        row["prediction_changes"] = changed / compared if compared else None
        ratios = auto.class_ratios()            # the collapse guard's reading: its smallest class ratio
        if ratios is not None and not bool(ratios.isnan().all()):
            row["min_class_ratio"] = float(ratios[~ratios.isnan()].min())
    row["sat_started"] = auto.started and epoch >= auto.start_epoch()
    if auto.started and epoch == auto.start_epoch():
        say(s, f"start_epoch=auto: SAT started at epoch {epoch} ({auto.rule} rule)")


def observe_plateau_field(s: Session, task, epoch: int, row: dict) -> None:
    """Feed the rules of ``start_epoch=auto`` the epoch's validation figure: the task's
    ``plateau_field`` (robust: held-out PGD accuracy), else the model-selection field (accuracy on
    the validation split's own labels).  Called once the task has added its fields to the row."""
    sat = WarmUp.within(s.loss_fn)
    key = task.plateau_field or (s.selector.key if s.selector is not None else None)
    if sat is not None and key is not None and row.get(key) is not None:
        sat.observe_validation(epoch, row[key])


def summarize(s: Session, extra: dict | None = None) -> dict:
    """Write soft_targets.npy and summary.json from the run folder's metrics (plus ``extra`` fields);
    print the headline."""
    rows = s.run.read_metrics()
    if not rows:
        raise UserError(f"{s.run.metrics} holds no epochs")
    last = rows[-1]
    best = max(rows, key=lambda r: r["test_acc"])
    noise = s.noise
    summary = {
        "loss": s.cfg.loss.name, "data": s.cfg.data.name, "seed": s.cfg.seed, "device": str(s.device),
        "epochs": last["epoch"] + 1, "num_train": int(noise.noisy_labels.size),
        "noise_kind": noise.kind, "noise_rate": noise.rate, "noise_rate_realised": noise.realised_rate,
        "num_noisy": int(noise.noisy_mask.sum()),
        "test_acc_last": last["test_acc"], "test_acc_best": best["test_acc"], "best_epoch": best["epoch"],
    }
    if last.get("test_balanced_acc") is not None:      # rows written before it was logged lack it
        summary["test_balanced_acc_last"] = last["test_balanced_acc"]
    if s.test_per_class is not None:
        summary["test_acc_per_class_last"] = s.test_per_class
    if "val_acc" in last:
        best_val = max(rows, key=lambda r: r["val_acc"])
        summary.update(val_acc_last=last["val_acc"], val_acc_best=best_val["val_acc"], best_val_epoch=best_val["epoch"],
                       test_acc_at_best_val=best_val["test_acc"])
    sat = WarmUp.within(s.loss_fn)
    if sat is not None:
        # the values in force, which differ from the config's under loss.reference_width
        summary.update(momentum=sat.momentum, start_epoch=sat.start_epoch, start_epoch_chosen=sat.start_epoch_chosen)
        if getattr(sat, "variant", None):
            summary["variant"] = sat.variant
        if sat.auto is not None and sat.auto.was_held:
            summary.update(start_held_epoch=int(sat.auto.held_at),
                           start_held_classes=sat.auto.held.nonzero().flatten().tolist(),
                           auto_min_class_ratio=sat.auto.min_class_ratio)
        if sat.auto is not None and sat.auto.plain and sat.start_epoch_chosen is not None:
            summary["start_variant"] = "ce"         # the form SAT ran in, when it is not the loss's variant
        if sat.auto is not None and sat.auto.min_fit > 0:
            summary["auto_min_fit"] = sat.auto.min_fit
        concentration = float(sat.auto.concentration) if sat.auto is not None else float("nan")
        if concentration == concentration:      # measured (inf: nothing to measure, e.g. two classes)
            summary.update(start_concentration=concentration if concentration < float("inf") else None,
                           auto_min_concentration=sat.auto.min_concentration)
        if sat.auto is not None and int(sat.auto.gated_at) >= 0:
            changes = sat.auto.prediction_changes()
            summary.update(start_gated_epoch=int(sat.auto.gated_at), start_gate_fit_last=sat.auto.fit(),
                           auto_max_changes=sat.auto.max_changes, start_gate_changes_last=changes[-1] if changes else None)
    if s.selector is not None and s.selector.epoch >= 0:
        chosen = next(r for r in rows if r["epoch"] == s.selector.epoch)
        # the validation accuracy a user can see (on the split's own labels): the number to compare
        # runs of different losses by, e.g. CE against SAT in a sweep
        summary.update(selected_by=s.selector.key, selected_epoch=s.selector.epoch,
                       test_acc_at_selected=chosen["test_acc"], selection_val_acc_last=last[s.selector.key],
                       selection_val_acc_at_selected=chosen[s.selector.key], selection_val_size=len(s.data.val))
        summary.update(selection_verdict(s, last["epoch"]))
    bank = s.loss_fn.bank()
    if bank is not None:
        s.run.write_soft_targets(bank)
    if s.tracker is not None:
        s.run.write_label_history(s.tracker)
    if last.get("detection_auroc") is not None:
        summary.update({k: last[k] for k in ("detection_auroc", "detection_ap", "detection_precision_at_k",
                                             "detection_recall_at_k")})
    if "test_aurc" in last:
        summary["test_aurc_last"] = last["test_aurc"]
        summary["test_augrc_last"] = last.get("test_augrc")
    if "target_recovery" in last:
        summary["target_recovery"] = last["target_recovery"]
        summary["num_noisy_recovered"] = round(last["target_recovery"] * summary["num_noisy"])
    summary.update(extra or {})
    summary["wall_time_s"] = s.elapsed + time.time() - s.t0
    s.run.write_summary(summary)
    say(s, headline(summary) + f"\nrun folder: {s.run.path}")
    return summary


def gate_reason(summary: dict) -> str:
    """Which gate kept a fired rule from counting (``AutoStart``: the fit, stability and memorisation gates)."""
    reasons = []
    if summary.get("auto_min_fit"):
        reasons.append(f"the training passes had to predict {summary['auto_min_fit']} of the given labels")
    concentration = summary.get("start_concentration")
    if concentration is not None and concentration < summary.get("auto_min_concentration", 0):
        # measured only once the other gates let the rule count: this one held it from then on
        reasons.append(f"the training passes' disagreements with the given labels spread almost evenly over the "
                       f"other classes (concentration {concentration:.2f} < {summary['auto_min_concentration']}, as "
                       "under uniform noise, where SAT gains only once the network memorises), so it waited for a "
                       "sign of memorisation (the prediction changes' first minimum, or a plateau of the validation accuracy)")
    else:
        reasons.append(f"at most {summary['auto_max_changes']} of the training predictions could change class in an "
                       "epoch")
    return " and ".join(reasons)


def gate_reading(summary: dict) -> str:
    fit, changes = summary.get("start_gate_fit_last"), summary.get("start_gate_changes_last")
    return ", ".join(f"{name} {value:.3f}" for name, value in (("fit", fit), ("changes", changes)) if value is not None)


def headline(summary: dict) -> str:
    name = summary["loss"].upper()
    lines = [f"{name}: test accuracy {100 * summary['test_acc_last']:.2f}% at the last epoch "
             f"(best {100 * summary['test_acc_best']:.2f}% at epoch {summary['best_epoch']})"]
    balanced = summary.get("test_balanced_acc_last")
    if SF.balanced_differs(summary["test_acc_last"], balanced):      # an imbalanced test set
        worst = SF.worst_class(summary.get("test_acc_per_class_last"))
        worst = f"; worst class {100 * worst[1]:.2f}%" if worst else ""
        lines.append(f"  balanced accuracy (mean over classes) {100 * balanced:.2f}% at the last epoch{worst}")
    if "test_acc_at_best_val" in summary and summary.get("selected_by") != "val_acc":    # else the next line says it
        lines.append(f"  test accuracy at the best validation epoch ({summary['best_val_epoch']}): "
                     f"{100 * summary['test_acc_at_best_val']:.2f}%")
    if "test_acc_at_selected" in summary:
        lines.append(f"  test accuracy at the epoch picked by validation on the data's own labels "
                     f"({summary['selected_epoch']}, {summary['selected_by']}): {100 * summary['test_acc_at_selected']:.2f}%")
        lines.append("  " + use_line(summary))
    if summary.get("start_epoch") == "auto":
        chosen = summary.get("start_epoch_chosen")
        held = None
        if "start_held_classes" in summary:
            held = (f"class(es) {summary['start_held_classes']} were predicted at under "
                    f"{summary['auto_min_class_ratio']} of their given frequency when the rule fired "
                    f"(epoch {summary['start_held_epoch']}): the model had merged them into similar classes, "
                    "which SAT's targets would have made permanent")
        gated = summary.get("start_gated_epoch")
        if chosen is not None:
            reading = summary.get("start_concentration")
            plain = (" in its CE form (the start came after the learning rate had halved, under pair-like "
                     f"disagreements{f', concentration {reading:.2f}' if reading is not None else ''}, where the SCE "
                     "form's reverse term pushes the given labels harder)" if summary.get("start_variant") == "ce" else "")
            lines.append(f"  start_epoch=auto: SAT started at epoch {chosen}{plain}"
                         + (f"; it was held back until every class was predicted at half its given frequency: {held}"
                            if held else "")
                         + (f"; the rule fired at epoch {gated}, but {gate_reason(summary)} until then"
                            if gated is not None else ""))
        elif gated is not None and not held:
            lines.append(f"  start_epoch=auto: SAT never started, so the run is plain cross-entropy: the rule fired at "
                         f"epoch {gated}, but {gate_reason(summary)} to the end (last epoch: "
                         f"{gate_reading(summary)}), and SAT's targets would have copied an unsettled or under-fitting "
                         "model or one that had not begun to memorise (loss.auto_min_fit=0, loss.auto_max_changes=1 "
                         "and loss.auto_min_concentration=0 turn the gates off)")
        elif held:
            lines.append(f"  start_epoch=auto: SAT never started, so the run is plain cross-entropy: {held}, and not "
                         "every class was predicted at half its given frequency again (loss.auto_min_class_ratio=0 "
                         "turns this guard off)")
        else:
            lines.append("  start_epoch=auto: the rule never fired, so the run is plain cross-entropy")
    if "num_noisy_recovered" in summary and summary["num_noisy"]:
        lines.append(f"  {name} targets now give the true class for {summary['num_noisy_recovered']} of the "
                     f"{summary['num_noisy']} wrong training labels ({100 * summary['target_recovery']:.1f}%)")
    if "test_robust_acc_last" in summary:
        attack = summary["robust_attack"].upper()
        lines.append(f"  last model: clean {100 * summary['test_clean_acc_last']:.2f}%, {attack} "
                     f"{100 * summary['test_robust_acc_last']:.2f}%")
        if "test_robust_acc_best" in summary:
            lines.append(f"  best model (epoch {summary['best_robust_epoch']}, by validation robust accuracy): clean "
                         f"{100 * summary['test_clean_acc_best']:.2f}%, {attack} {100 * summary['test_robust_acc_best']:.2f}%")
    if summary.get("detection_auroc") is not None:
        lines.append(f"  mislabeled-sample detection: AUROC {summary['detection_auroc']:.3f}, "
                     f"AP {summary['detection_ap']:.3f} (ranked list: sat issues RUN)")
    return "\n".join(lines)
