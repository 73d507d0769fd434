"""The ``sat`` argument parser: one subparser per command, each bound to its ``commands.cmd_*``."""
from __future__ import annotations

import argparse

from .commands import (
    cmd_audit,
    cmd_config,
    cmd_eval,
    cmd_issues,
    cmd_presets,
    cmd_pretrain,
    cmd_probe,
    cmd_report,
    cmd_robust,
    cmd_selective,
    cmd_sweep,
    cmd_train,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sat", description="Self-Adaptive Training: learn from noisy labels.")
    from .. import __version__
    p.add_argument("--version", action="version", version=f"selfadaptive {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (SAT on digits with 40%% flip noise by default)",
                       description="Train; settings come from the defaults <- --config <- key=value overrides.")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.05 loss.name=ce seed=1")
    t.add_argument("--config", help="a YAML file or a preset name (see `sat presets`); default digits-flip40-sat")
    t.add_argument("--out", help="run folder to create (default runs/<data>-<loss>-s<seed>-<time>)")
    t.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
    t.add_argument("--force", action="store_true",
                   help="with --resume: continue although metrics.jsonl lacks epochs the checkpoint has done")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")
    t.add_argument("--nproc", type=int, default=1,
                   help="data-parallel worker processes on this machine (gloo on CPU, NCCL on GPU); for several "
                        "machines use torchrun --nproc_per_node N -m selfadaptive train ...")
    t.set_defaults(func=cmd_train)

    pt = sub.add_parser("pretrain", help="self-supervised pretraining (task=ssl): SAT-SSL, BYOL or SimSiam",
                        description="Train an encoder without labels; kNN probes during training, a linear probe "
                                    "at the end. Settings: --config <- key=value overrides.")
    pt.add_argument("overrides", nargs="*", help="dotted overrides, e.g. loss.name=byol optim.epochs=50")
    pt.add_argument("--config", help="a YAML file or a preset name (e.g. cifar10sub-ssl-cnn-sat)")
    pt.add_argument("--out", help="run folder to create (default runs/<data>-<loss>-s<seed>-<time>)")
    pt.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
    pt.add_argument("--quiet", action="store_true")
    pt.add_argument("--nproc", type=int, default=1, help="data-parallel worker processes on this machine "
                                                           "(or torchrun ... -m selfadaptive pretrain ...)")
    pt.set_defaults(func=cmd_pretrain)

    pb = sub.add_parser("probe", help="kNN and linear-probe accuracy of a pretraining run's encoder")
    pb.add_argument("run", help="run folder of sat pretrain")
    pb.add_argument("--checkpoint", help="another checkpoint of the same networks (default RUN/checkpoint.pt)")
    pb.add_argument("--knn-k", type=int, default=None, help="neighbours (default: the run's ssl.knn_k)")
    pb.add_argument("--no-linear", action="store_true", help="kNN only")
    pb.add_argument("--device", default=None)
    pb.set_defaults(func=cmd_probe)

    e = sub.add_parser("eval", help="evaluate a run's checkpoint")
    e.add_argument("run", help="run folder")
    e.add_argument("--split", choices=["test", "val", "train", "all"], default="all")
    e.add_argument("--device", default=None, help="override the run's device (e.g. cpu)")
    e.add_argument("--model", choices=["last", "selected", "use"], default="last",
                   help="the last epoch's weights (checkpoint.pt, default), the epoch best on the validation split "
                        "(selected_model.pt), or the one summary.json's model_to_use names")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("issues", help="rank a run's likely mislabeled samples and suggest labels",
                       description="Write RUN/label_issues.csv (every training sample, most suspicious first) "
                                   "from the run's soft targets; score it when the true labels are known.")
    i.add_argument("run", help="run folder of a SAT (or ELR) run")
    i.add_argument("--top", type=int, default=10, help="print the N most suspicious samples (default 10)")
    i.add_argument("--score", choices=["margin", "given_mass", "mean_given_mass"], default=None,
                   help="suspicion score (default: mean_given_mass, see selfadaptive.label_issues)")
    i.add_argument("--export", metavar="CSV", help="write corrected labels for `sat train data.labels=CSV`")
    i.add_argument("--threshold", type=float, default=None,
                   help="--export changes a flagged label when the suggestion's (debiased) soft-target mass is "
                        ">= this (default 0.2, best of 0-0.6 in docs/benchmarks.md §5b; 0.4 when SAT never "
                        "started and the ranking comes from the training passes, §14)")
    i.add_argument("--force", action="store_true", help="let --export replace an existing file")
    i.add_argument("--plot", action="store_true", help="write RUN/label_issues.png (needs matplotlib)")
    i.set_defaults(func=cmd_issues)

    au = sub.add_parser("audit", help="find the wrong labels in your data, suggest fixes, and train a model despite them",
                        description="Train SAT (automatic start epoch, model kept on a validation split of your own "
                                    "labels) on DATA and write DIR/label_issues.csv, DIR/corrected_labels.csv and "
                                    "DIR/audit.html. DATA: an image folder, a .csv, an .npz, or a data set name.")
    au.add_argument("data", help="image folder (class folders), table.csv, arrays.npz, or a name such as mnist")
    au.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.epochs=20 data.label_column=y")
    au.add_argument("--out", required=True, help="run folder to create (must not exist)")
    au.add_argument("--top", type=int, default=48, help="suspicious samples shown on the page (default 48)")
    au.add_argument("--quiet", action="store_true", help="print nothing but errors and the result")
    au.set_defaults(func=cmd_audit)

    sl = sub.add_parser("selective", help="risk-coverage evaluation of one or more runs",
                        description="Write RUN/selective.json for each run: the risk-coverage curve, AURC, E-AURC, "
                                    "selective error at the paper's coverages, and thresholds chosen on a validation "
                                    "part for target coverages and risks, measured on the rest.")
    sl.add_argument("runs", nargs="+", metavar="RUN", help="run folders (task=selective, or any classifier)")
    sl.add_argument("--plot", metavar="PNG", help="draw all runs' risk-coverage curves into PNG")
    sl.add_argument("--val-size", type=int, default=0,
                    help="shuffled test samples held out as validation (default 2000, or a fifth of a smaller test set)")
    sl.add_argument("--calib-size", type=int, default=0,
                    help="test samples used to choose the deployable thresholds (default: half the test set)")
    sl.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    sl.add_argument("--target-coverage", default="0.95,0.9,0.8", help="coverages to calibrate for (comma-separated)")
    sl.add_argument("--target-risk", default="0.01,0.02,0.05", help="risks to calibrate for (comma-separated)")
    sl.add_argument("--device", default=None)
    sl.set_defaults(func=cmd_selective)

    rb = sub.add_parser("robust", help="clean, FGSM, PGD (and AutoAttack) accuracy of a run's last and best model",
                        description="Attack the run's last model (checkpoint.pt) and, for task=robust runs, the model "
                                    "chosen by validation robust accuracy (best_model.pt); write RUN/robust.json. "
                                    "Inputs are in [0, 1]; eps and steps default to the run's adversarial settings.")
    rb.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    rb.add_argument("--which", choices=["last", "best", "both"], default="both")
    rb.add_argument("--eps", type=float, default=None, help="L-inf radius (default: the run's adversarial.eps)")
    rb.add_argument("--steps", type=int, default=None, help="PGD steps (default: the run's adversarial.test_steps)")
    rb.add_argument("--step-size", type=float, default=None,
                    help="PGD step (default: the run's adversarial.test_step_size, or 2.5 * eps / steps)")
    rb.add_argument("--autoattack", action="store_true",
                    help="also run torchattacks' standard AutoAttack (pip install 'selfadaptive[attacks]')")
    rb.add_argument("--limit", type=int, default=0, help="attack only the first N samples (AutoAttack is slow on CPU)")
    rb.add_argument("--split", choices=["test", "val"], default="test")
    rb.add_argument("--device", default=None)
    rb.set_defaults(func=cmd_robust)

    sw = sub.add_parser("sweep", help="a resumable grid of runs in one folder, with a results table",
                        description="key=a,b,c overrides are grid axes, other key=value overrides apply to every run. "
                                    "Rerun the same command to finish an interrupted sweep.")
    sw.add_argument("overrides", nargs="*", help="e.g. model.base_width=16,64,256 loss.name=ce,sat seed=0,1 optim.epochs=30")
    sw.add_argument("--config", help="a YAML file or a preset name; default digits-flip40-sat")
    sw.add_argument("--out", required=True, help="sweep folder (one run folder per grid point)")
    sw.add_argument("--jobs", type=int, default=1, help="runs at a time (each gets cores / jobs threads)")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(func=cmd_sweep)

    rp = sub.add_parser("report", help="one self-contained HTML page comparing runs",
                        description="Summary table, learning curves, noise recovery and detection, risk-coverage, "
                                    "robust accuracy and sweep curves, from whatever the run folders contain.")
    rp.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    rp.add_argument("--out", default="report.html", help="HTML file to write (default report.html)")
    rp.set_defaults(func=cmd_report)

    cf = sub.add_parser("config", help="print the resolved config: every key, its value, default and help",
                        description="The config `sat train` would use with the same --config and overrides.")
    cf.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.name=csv optim.lr=0.05")
    cf.add_argument("--config", help="a YAML file or a preset name (default as for sat train)")
    cf.set_defaults(func=cmd_config)

    pr = sub.add_parser("presets", help="list the shipped config presets")
    pr.set_defaults(func=cmd_presets)
    return p
