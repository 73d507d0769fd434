"""Selective classification metrics: risk-coverage curves, AURC, thresholds and the paper's protocol.

Conventions (all pure functions of numpy arrays):

* ``confidence`` (N,): higher = more willing to predict.  A sample is *accepted* when
  ``confidence >= threshold``.  For an abstaining network (K + 1 outputs) it is
  ``1 - p_abstain`` with p the softmax over all K + 1 outputs; for a plain classifier it is the
  maximum softmax probability ("Softmax Response").  The prediction is always the argmax of the
  first K outputs.
* coverage = fraction accepted; selective risk = error rate among the accepted (0 when nothing
  is accepted, as a convention; such points are flagged by coverage 0).
* **AURC** follows torch-uncertainty's ``AURC`` exactly: sort by confidence (descending), take the
  running error rate r_k = (errors among the first k) / k for k = 1..N at coverage k/N,
  integrate with the trapezoidal rule over coverage from 1/N to 1 and divide by (1 - 1/N)
  so the support counts as [0, 1].  Ties in confidence are broken by index (stable sort);
  torch-uncertainty's unstable argsort may order exact ties differently, and that is the only
  difference.  The other common convention, mean_k r_k (Geifman et al.), differs by O(1/N).
* **AUGRC** (Traub et al., NeurIPS 2024): the area under the *generalized* risk-coverage curve,
  whose risk at coverage c is the joint rate of accepted errors, c * selective risk (errors among
  the accepted / N).  AURC weighs the few most confident samples' risk as much as the whole
  data's, so one confident error at low coverage dominates it; the generalized risk counts every
  accepted error once.  Integrated with the trapezoidal rule from (0, 0) over the tie-grouped
  curve, it equals err^2 / 2 + err * acc * (1 - AUROC_f) exactly, with err the error rate and
  AUROC_f the AUROC of the confidence for telling correct predictions from errors (ties count
  1/2): the paper's closed form, and the parity test.
* **E-AURC** = AURC - AURC of the oracle ordering (every correct prediction ranked before every
  error), computed with the same formula rather than the continuous approximation
  r + (1 - r) log(1 - r).
"""
from __future__ import annotations

import numpy as np

PAPER_COVERAGES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
#: numpy >= 2 names it trapezoid, older releases trapz
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def selective_outputs(logits: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, confidence) from logits (N, K) (Softmax Response: max softmax), (N, K + 1)
    (abstain class: 1 - p_abstain) or (N, 2K + 1) (SelectiveNet: sigmoid of the selection logit)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.shape[1] == 2 * num_classes + 1:
        return z[:, :num_classes].argmax(axis=1), 1.0 / (1.0 + np.exp(-z[:, num_classes]))
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    pred = p[:, :num_classes].argmax(axis=1)
    if z.shape[1] == num_classes + 1:
        return pred, 1.0 - p[:, num_classes]
    if z.shape[1] != num_classes:
        raise ValueError(f"logits have {z.shape[1]} columns; expected {num_classes} or {num_classes + 1}")
    return pred, p.max(axis=1)


def epoch_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """The per-epoch scores of a selective run: ``{"aurc": ..., "augrc": ...}`` of its ``selective_outputs``.
    logits: (N, C); labels: (N,)."""
    pred, confidence = selective_outputs(logits, num_classes)
    return {"aurc": aurc(confidence, pred == labels), "augrc": augrc(confidence, pred == labels)}


def _running_risk(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    errors = 1.0 - np.asarray(correct, dtype=np.float64)[order]
    return np.cumsum(errors) / np.arange(1, len(errors) + 1)


def _trapezoid_aurc(risk: np.ndarray) -> float:
    n = risk.shape[0]
    if n < 2:
        return float("nan")
    coverage = np.arange(1, n + 1) / n
    return float(_trapezoid(risk, coverage) / (1.0 - 1.0 / n))


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve (see the module docstring).  (N,), (N,) bool -> float; NaN if N < 2."""
    return _trapezoid_aurc(_running_risk(confidence, correct))


def augrc(confidence, correct) -> float:
    """Area under the generalized risk-coverage curve (see the module docstring).  (N,), (N,) bool
    -> float in [0, 0.5]; NaN if N = 0."""
    curve = risk_coverage_curve(confidence, correct)
    if curve["coverage"].size == 0:
        return float("nan")
    coverage = np.r_[0.0, curve["coverage"]]
    joint = np.r_[0.0, curve["coverage"] * curve["risk"]]
    return float(_trapezoid(joint, coverage))


def e_aurc(confidence, correct) -> float:
    """Excess AURC: ``aurc`` minus the AURC of the oracle ranking of the same predictions."""
    correct = np.asarray(correct, dtype=bool)
    return aurc(confidence, correct) - aurc(correct.astype(np.float64), correct)


def risk_coverage_curve(confidence, correct) -> dict:
    """The curve over every threshold: one point per distinct confidence value.

    Returns ``thresholds`` (descending), ``coverage`` and ``risk`` arrays: accepting
    ``confidence >= thresholds[i]`` gives ``coverage[i]`` and ``risk[i]``.  Tied samples enter
    together, so every point is achievable by a threshold.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    order = np.argsort(-conf, kind="stable")
    conf_sorted = conf[order]
    errors = np.cumsum(1.0 - np.asarray(correct, dtype=np.float64)[order])
    n = conf.shape[0]
    if n == 0:
        return {"thresholds": np.zeros(0), "coverage": np.zeros(0), "risk": np.zeros(0)}
    last_of_group = np.r_[conf_sorted[1:] != conf_sorted[:-1], True]
    k = np.flatnonzero(last_of_group) + 1
    return {"thresholds": conf_sorted[k - 1], "coverage": k / n, "risk": errors[k - 1] / k}


def coverage_and_risk(confidence, correct, threshold: float) -> tuple[float, float]:
    """(coverage, selective risk) of accepting ``confidence >= threshold``; risk 0 when none is accepted."""
    accept = np.asarray(confidence) >= threshold
    n_acc = int(accept.sum())
    risk = float((~np.asarray(correct, dtype=bool)[accept]).mean()) if n_acc else 0.0
    return n_acc / max(len(accept), 1), risk


def bisect_threshold(confidence, target_coverage: float, iterations: int = 60) -> float:
    """The largest threshold whose coverage is still >= ``target_coverage``, found by bisection.

    Coverage falls as the threshold rises, so bisection on [min, max] of the confidence
    converges to the cut between the accepted and rejected samples; the returned value is
    snapped to the lowest accepted confidence, so exactly ``ceil(c * N)`` samples (more only
    when confidences tie at the cut) are accepted.  ``target_coverage`` 0 returns +inf (accept
    nothing); 1 returns the minimum confidence (accept all).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    if not 0.0 <= target_coverage <= 1.0:
        raise ValueError(f"target coverage must be in [0, 1], got {target_coverage}")
    if conf.size == 0:
        raise ValueError("no samples to choose a threshold on")
    if target_coverage == 0.0:
        return float("inf")
    lo, hi = float(conf.min()), float(conf.max())     # coverage(lo) = 1 >= target
    if (conf >= hi).mean() >= target_coverage:
        return hi
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if (conf >= mid).mean() >= target_coverage:
            lo = mid
        else:
            hi = mid
    return float(conf[conf >= lo].min())


def threshold_for_risk(confidence, correct, target_risk: float) -> float:
    """The lowest threshold (largest coverage) whose selective risk is <= ``target_risk``; +inf when
    no non-empty accepted set is that accurate."""
    curve = risk_coverage_curve(confidence, correct)
    ok = np.flatnonzero(curve["risk"] <= target_risk)
    return float(curve["thresholds"][ok[-1]]) if ok.size else float("inf")


def paper_protocol(confidence, correct, coverages=PAPER_COVERAGES, val_size: int = 2000, seed: int = 0) -> dict:
    """Selective error at fixed coverages as in the SAT paper: shuffle the test set (seeded), call
    the first ``val_size`` samples "validation" and the rest "test", and find the threshold for
    each coverage by bisection *within each part*.  Returns per-part lists aligned with ``coverages``."""
    conf, corr = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    perm = np.random.default_rng(seed).permutation(len(conf))
    parts = {"val": perm[:val_size], "test": perm[val_size:]}
    out = {"coverages": list(coverages), "val_size": int(min(val_size, len(conf)))}
    for name, rows in parts.items():
        errs, covs = [], []
        for c in coverages:
            if rows.size == 0:
                errs.append(None)
                covs.append(None)
                continue
            t = bisect_threshold(conf[rows], c)
            cov, risk = coverage_and_risk(conf[rows], corr[rows], t)
            errs.append(risk)
            covs.append(cov)
        out[f"{name}_selective_error"], out[f"{name}_coverage"] = errs, covs
    return out


def deployable_protocol(confidence, correct, target_coverages=(0.95, 0.9, 0.8), target_risks=(0.01, 0.02, 0.05),
                        val_size: int = 2000, seed: int = 0) -> dict:
    """Choose thresholds on a held-out calibration part (the first ``val_size`` of a seeded shuffle)
    only, then measure them on the rest.

    For each target coverage c: the threshold that accepts c of the validation samples; for each
    target risk r: the lowest threshold with validation risk <= r.  Reports the threshold and the
    realised coverage and risk on the test part, which played no role in choosing it.
    """
    conf, corr = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    perm = np.random.default_rng(seed).permutation(len(conf))
    val, test = perm[:val_size], perm[val_size:]
    rows = []
    for c in target_coverages:
        t = bisect_threshold(conf[val], c)
        cov, risk = coverage_and_risk(conf[test], corr[test], t)
        rows.append({"target": "coverage", "value": c, "threshold": t, "test_coverage": cov, "test_risk": risk})
    for r in target_risks:
        t = threshold_for_risk(conf[val], corr[val], r)
        cov, risk = coverage_and_risk(conf[test], corr[test], t)
        rows.append({"target": "risk", "value": r, "threshold": t, "test_coverage": cov, "test_risk": risk})
    return {"val_size": int(val.size), "test_size": int(test.size), "rows": rows}
