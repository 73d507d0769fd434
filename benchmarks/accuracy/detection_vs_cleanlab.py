"""Mislabeled-sample detection: SAT from one training run vs cleanlab on K-fold out-of-sample probabilities.

Both sides see the same noisy labels and train the same model family with the same loop
(``selfadaptive.estimator.fit_network``):

* cleanlab: 5-fold cross-validation with plain cross-entropy; the held-out probabilities are
  snapshotted after each CE budget in ``budgets`` (an early-stopped budget is a snapshot of the
  same fold run, which is how early stopping works).  Ranked by
  ``cleanlab.rank.get_label_quality_scores`` (self-confidence), flagged by
  ``cleanlab.filter.find_label_issues`` (prune_by_noise_rate).
* SAT: one run on all samples at *half the compute of cleanlab's best budget* b* (the budget
  with the highest AUROC): cleanlab at budget e costs 5 folds * e epochs * 4/5 N = 4 e N samples
  seen, so SAT gets E = 2 b* epochs (E * N samples), with E_s = max(1, round(E / 4)).  Ranked by
  ``selfadaptive.label_issues`` (all three scores are reported), flagged where the debiased soft
  target's argmax differs from the given label.
* cleanlab on SAT: the same SAT run's ``pred_probs`` (the debiased bank,
  ``pred_probs_from_history``) fed to cleanlab's ``find_label_issues`` and ``estimate_joint``, beside
  cleanlab's pruning and noise-rate estimate on its own 5-fold probabilities.

Results go to a JSON file; docs/benchmarks.md §5 summarises them.

    python -m benchmarks.accuracy.detection_vs_cleanlab --datasets digits,breast_cancer,wine,mnist,cifar10 \
        --seeds 0 --out benchmarks/results/detection_vs_cleanlab.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from benchmarks.common import result_path
from selfadaptive.config import LossConfig, ModelConfig
from selfadaptive.data import input_stats
from selfadaptive.estimator import fit_network, predict_proba_network
from selfadaptive.issues import SCORES, LabelIssueTracker, detection_metrics, flagged_set_metrics, label_issues
from selfadaptive.issues.tracker import pred_probs_from_history
from selfadaptive.losses import build_loss
from selfadaptive.models import build_model
from selfadaptive.noise.labels import corrupt_labels

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

# noise, model (name, width), optimiser (name, lr), batch size, cleanlab CE budgets (epochs)
SETUPS = {
    "digits": dict(noise=("flip", 0.4), model=("mlp", 256), opt=("sgd", 0.01), batch=64, budgets=(2, 5, 10, 20, 50)),
    "breast_cancer": dict(noise=("flip", 0.3), model=("mlp", 256), opt=("sgd", 0.01), batch=64, budgets=(2, 5, 10, 20, 50)),
    "wine": dict(noise=("flip", 0.3), model=("mlp", 256), opt=("sgd", 0.01), batch=64, budgets=(2, 5, 10, 20, 50)),
    "mnist": dict(noise=("uniform", 0.4), model=("mlp", 256), opt=("sgd", 0.05), batch=128, budgets=(1, 3, 5, 10, 20)),
    "cifar10": dict(noise=("uniform", 0.4), model=("cnn", 16), opt=("adam", 1e-3), batch=128, budgets=(2, 4, 8, 15, 30)),
}


def load(name: str, subset: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs (uint8 images or float features) and clean labels."""
    if name in ("digits", "breast_cancer", "wine"):
        from sklearn import datasets
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return x.astype(np.float32), y.astype(np.int64)
    path = SHARED / {"mnist": "mnist.npz", "cifar10": "cifar10_from_jpeg.npz"}[name]
    with np.load(path) as z:
        x, y = z["x_train"], z["y_train"].astype(np.int64)
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] == 3:
        x = x.transpose(0, 3, 1, 2)
    # the shared files are sorted by class: a seeded sample, never a slice
    rows = np.sort(np.random.default_rng(seed).choice(len(y), size=min(subset, len(y)), replace=False))
    return np.ascontiguousarray(x[rows]), y[rows]


def make_model(setup: dict, x: torch.Tensor, k: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    name, width = setup["model"]
    mean, std = input_stats(x)
    return build_model(ModelConfig(name=name, base_width=width, depth=2), k, tuple(x.shape[1:]), mean, std)


def train_kwargs(setup: dict, epochs: int, seed: int) -> dict:
    opt, lr = setup["opt"]
    return dict(epochs=epochs, lr=lr, optimizer=opt, batch_size=setup["batch"], seed=seed)


def run_cleanlab(setup, x, given, k, truth, seed) -> list[dict]:
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    budgets = setup["budgets"]
    probs = {b: np.zeros((len(given), k)) for b in budgets}
    t0 = time.time()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(np.zeros(len(given)), given)
    for f, (tr, ho) in enumerate(folds):
        x_tr, y_tr = x[tr], torch.as_tensor(given[tr])
        model = make_model(setup, x_tr, k, seed + f)

        def snapshot(epoch, net, ho=ho):
            if epoch + 1 in probs:
                probs[epoch + 1][ho] = predict_proba_network(net, x[ho])
        fit_network(model, x_tr, y_tr, build_loss(LossConfig(name="ce"), y_tr, k),
                    on_epoch_end=snapshot, **train_kwargs(setup, max(budgets), seed + f))
    seconds = time.time() - t0
    rows = []
    for b in budgets:
        quality = get_label_quality_scores(given, probs[b], method="self_confidence")
        flagged = find_label_issues(given, probs[b], filter_by="prune_by_noise_rate")
        det = detection_metrics(1.0 - quality, truth)
        noise_estimate = 1.0 - float(np.trace(estimate_joint(given, probs[b])))
        rows.append({"budget_epochs": b, "compute_samples": 5 * b * round(0.8 * len(given)),
                     "oos_accuracy_vs_given": float((probs[b].argmax(1) == given).mean()),
                     **{k_: det[k_] for k_ in ("auroc", "ap", "precision_at_k")},
                     "flagged": flagged_set_metrics(flagged, truth), "estimated_noise_rate": noise_estimate})
    rows.append({"wall_s_all_budgets": seconds})
    return rows


def run_sat(setup, x, given, k, truth, seed, epochs: int) -> dict:
    y = torch.as_tensor(given)
    start_epoch = max(1, round(epochs / 4))
    model = make_model(setup, x, k, seed)
    loss_fn = build_loss(LossConfig(name="sat", momentum=0.9, start_epoch=start_epoch, variant="ce"), y, k)
    tracker = LabelIssueTracker.for_loss(y, loss_fn)
    t0 = time.time()
    fit_network(model, x, y, loss_fn, tracker=tracker, **train_kwargs(setup, epochs, seed))
    seconds = time.time() - t0
    bank = loss_fn.bank()
    out = {"epochs": epochs, "start_epoch": start_epoch, "compute_samples": epochs * len(given), "wall_s": seconds}
    for score in SCORES:
        issues = label_issues(bank, y, score, mean_given_mass=tracker.mean_given_mass(),
                              prior_weight=tracker.prior_weight())
        det = detection_metrics(issues.in_index_order("score"), truth)
        out[score] = {k_: det[k_] for k_ in ("auroc", "ap", "precision_at_k")}
    out["flagged"] = flagged_set_metrics(issues.flagged[np.argsort(issues.index)], truth)
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    history = {k_: v.detach().cpu().numpy() for k_, v in tracker.state_dict().items()}
    probs = pred_probs_from_history(bank.detach().float().cpu().numpy(), given, history)
    pruned = find_label_issues(given, probs, filter_by="prune_by_noise_rate")
    out["cleanlab_on_sat_pred_probs"] = {"flagged": flagged_set_metrics(pruned, truth),
                                         "estimated_noise_rate": 1.0 - float(np.trace(estimate_joint(given, probs)))}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="digits,breast_cancer,wine,mnist,cifar10")
    p.add_argument("--seeds", default="0")
    p.add_argument("--subset", type=int, default=10000, help="MNIST/CIFAR-10 training subset size")
    p.add_argument("--out", default=result_path("detection_vs_cleanlab.json"))
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    for name in args.datasets.split(","):
        setup = SETUPS[name]
        for seed in (int(s) for s in args.seeds.split(",")):
            x_np, clean = load(name, args.subset, seed)
            k = int(clean.max()) + 1
            kind, rate = setup["noise"]
            noise = corrupt_labels(clean, k, rate, kind, seed=seed)
            given, truth = noise.noisy_labels, noise.noisy_mask
            x = torch.from_numpy(x_np)
            print(f"[{name} seed {seed}] N={len(given)} K={k} {kind} {rate}: {int(truth.sum())} wrong labels",
                  flush=True)
            cl = run_cleanlab(setup, x, given, k, truth, seed)
            for r in cl[:-1]:
                print(f"  cleanlab CE {r['budget_epochs']:>3} epochs x 5 folds: AUROC {r['auroc']:.4f} AP {r['ap']:.4f}"
                      f" F1 {r['flagged']['f1']:.3f}", flush=True)
            best = max(cl[:-1], key=lambda r: r["auroc"])
            sat = run_sat(setup, x, given, k, truth, seed, epochs=2 * best["budget_epochs"])
            print(f"  SAT {sat['epochs']} epochs (E_s {sat['start_epoch']}): "
                  + ", ".join(f"{s} AUROC {sat[s]['auroc']:.4f}" for s in SCORES)
                  + f"; flagged F1 {sat['flagged']['f1']:.3f} ({sat['wall_s']:.0f} s)", flush=True)
            on_sat = sat["cleanlab_on_sat_pred_probs"]
            print(f"  cleanlab on SAT's pred_probs: pruned F1 {on_sat['flagged']['f1']:.3f}, estimated noise "
                  f"{on_sat['estimated_noise_rate']:.3f} (cleanlab at its best budget: F1 {best['flagged']['f1']:.3f}, "
                  f"{best['estimated_noise_rate']:.3f}; true {truth.mean():.3f})", flush=True)
            results[f"{name}/seed{seed}"] = {
                "dataset": name, "seed": seed, "num_samples": len(given), "num_classes": k, "noise_kind": kind,
                "noise_rate": rate, "num_noisy": int(truth.sum()), "model": list(setup["model"]),
                "optimizer": list(setup["opt"]), "batch_size": setup["batch"], "sat": sat,
                "cleanlab_best_budget": best["budget_epochs"], "cleanlab_best_auroc": best["auroc"],
                "compute_ratio_sat_over_cleanlab_best": sat["compute_samples"] / best["compute_samples"], "cleanlab": cl[:-1], "cleanlab_wall_s": cl[-1]["wall_s_all_budgets"],
                "torch_threads": torch.get_num_threads()}
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
