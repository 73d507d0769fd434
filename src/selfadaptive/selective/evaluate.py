"""``sat selective RUN [RUN ...]``: risk-coverage evaluation of trained runs, and their plots.

Rebuilds each run's data and model from its folder, scores the test set once, and writes
``RUN/selective.json``: the risk-coverage curve, AURC and E-AURC (conventions in
``selfadaptive.selective``), selective error at the paper's coverages under the paper's
protocol, and the deployable protocol (thresholds chosen on a validation part, measured on the
rest).  Runs of ``task=classify`` are scored by Softmax Response.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.checkpoint import atomic_write
from ..engine.evaluation import predict_logits
from ..engine.restore import load_run_model
from ..engine.runfolder import RunDir
from ..errors import UserError
from .metrics import (
    PAPER_COVERAGES,
    augrc,
    aurc,
    deployable_protocol,
    e_aurc,
    paper_protocol,
    risk_coverage_curve,
    selective_outputs,
)

CURVE_POINTS = 201      # the stored curve is resampled on this coverage grid (the full one can be N long)


def test_scores(path, device: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(prediction, confidence, labels, info) on the test split of run ``path``."""
    run, cfg, data, model, state, dev = load_run_model(path, device)
    k = data.num_classes
    logits = predict_logits(model, data.test, dev, cfg.data.eval_batch_size).cpu().numpy()
    pred, confidence = selective_outputs(logits, k)
    method = {k + 1: "abstain class", 2 * k + 1: "selection head"}.get(logits.shape[1], "softmax response")
    return pred, confidence, data.test.y.numpy(), {"loss": cfg.loss.name, "score": method, "epoch": int(state["epoch"])}


#: the paper protocol's held-out part: 2,000 of CIFAR-10's 10,000 test samples
PAPER_VAL_SIZE = 2000


def evaluate_selective(path, device: str | None = None, val_size: int = 0, seed: int = 0,
                       target_coverages=(0.95, 0.9, 0.8), target_risks=(0.01, 0.02, 0.05),
                       calib_size: int = 0) -> dict:
    """Everything ``sat selective`` reports for one run; also written to ``RUN/selective.json``.

    ``val_size``: the paper protocol's held-out part (0: 2,000, or a fifth of a test set under 10,000).  ``calib_size``: the calibration part
    of the deployable protocol (0: half of the test set).  The realised coverage of a threshold
    chosen on n calibration samples scatters by about sqrt(c(1-c)/n) around the target c: on
    a 10k CIFAR-10 test set over 20 shuffles, the std at c = 0.8 was 1.2 points with n = 2,000
    and 0.8 with n = 5,000 (max |deviation| 2.6 and 1.6 points).
    """
    pred, confidence, labels, info = test_scores(path, device)
    correct = pred == labels
    n = len(labels)
    val_size = val_size or min(PAPER_VAL_SIZE, n // 5)
    if val_size >= n:
        raise UserError(f"--val-size {val_size} leaves no test samples (the test set has {n})")
    calib_size = calib_size or n // 2
    if calib_size >= n:
        raise UserError(f"--calib-size {calib_size} leaves no test samples (the test set has {n})")
    curve = risk_coverage_curve(confidence, correct)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    # risk at each grid coverage: the curve point with the smallest coverage >= the grid value
    at = np.searchsorted(curve["coverage"], grid, side="left").clip(max=len(curve["coverage"]) - 1)
    result = {
        "run": str(path), **info, "num_test": n, "accuracy": float(correct.mean()),
        "aurc": aurc(confidence, correct), "e_aurc": e_aurc(confidence, correct), "augrc": augrc(confidence, correct),
        "curve": {"coverage": grid.tolist(), "risk": curve["risk"][at].tolist()},
        "paper_protocol": paper_protocol(confidence, correct, PAPER_COVERAGES, val_size, seed),
        "deployable": deployable_protocol(confidence, correct, target_coverages, target_risks, calib_size, seed),
    }
    RunDir(path).write_json(Path(path) / "selective.json", result)
    return result


def plot_curves(results: list[dict], out: str | Path) -> None:
    """Risk-coverage curves of several runs on one figure."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'selfadaptive[plot]'") from None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for r in results:
        cov, risk = np.asarray(r["curve"]["coverage"]), np.asarray(r["curve"]["risk"])
        ax.plot(100 * cov[1:], 100 * risk[1:], label=f"{Path(r['run']).name} ({r['loss']}, AURC {100 * r['aurc']:.2f})")
    ax.set_xlabel("coverage (%)")
    ax.set_ylabel("selective risk (% error)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(Path(out), lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)


__all__ = ["evaluate_selective", "plot_curves", "test_scores"]
