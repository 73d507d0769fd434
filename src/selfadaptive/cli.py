"""The ``sat`` command line.  Bad input prints one line and exits with code 2."""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

from .errors import Interrupted, TrainingDiverged, UserError


def _default_out(cfg) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{cfg.data.name}-{cfg.loss.name}-s{cfg.seed}-{stamp}"
    out, i = base, 1
    while out.exists():
        out, i = Path(f"{base}-{i}"), i + 1
    return out


def cmd_train(args) -> int:
    from .config import DEFAULT_PRESET, load_config
    from .presets import resolve_config
    from .runfolder import RunDir
    from .trainer import train

    if args.nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {args.nproc}")
    if args.resume:
        run = RunDir(args.resume).require()
        if args.config or args.out:
            raise UserError("--resume takes the run's own config; drop --config/--out")
        if args.overrides:
            raise UserError("--resume continues the run exactly as configured; overrides are not allowed")
        cfg = load_config(run.config)
        if args.nproc > 1:
            return _launch(args.nproc, ["train", "--resume", str(run.path)], args.quiet)
        train(cfg, run.path, resume=True, quiet=args.quiet)
        return 0
    cfg = load_config(resolve_config(args.config or DEFAULT_PRESET), args.overrides)
    out = Path(args.out) if args.out else _default_out(cfg)
    if args.nproc > 1:
        RunDir(out).require_new()      # one error line here rather than one per worker
        config = ["--config", args.config] if args.config else []
        return _launch(args.nproc, ["train", *config, "--out", str(out), *args.overrides], args.quiet)
    train(cfg, out, quiet=args.quiet)
    return 0


def cmd_pretrain(args) -> int:
    from .config import load_config
    from .presets import resolve_config
    from .pretrain import pretrain
    from .runfolder import RunDir

    if args.nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {args.nproc}")
    if args.resume:
        run = RunDir(args.resume).require()
        if args.config or args.out or args.overrides:
            raise UserError("--resume continues the run exactly as configured; drop --config/--out/overrides")
        if args.nproc > 1:
            return _launch(args.nproc, ["pretrain", "--resume", str(run.path)], args.quiet)
        pretrain(load_config(run.config), run.path, resume=True, quiet=args.quiet)
        return 0
    if not args.config:
        raise UserError("sat pretrain needs --config (e.g. cifar10sub-ssl-cnn-sat)")
    cfg = load_config(resolve_config(args.config), args.overrides)
    out = Path(args.out) if args.out else _default_out(cfg)
    if args.nproc > 1:
        if cfg.task != "ssl":
            raise UserError(f"sat pretrain trains task=ssl configs; this one has task={cfg.task} (use sat train)")
        RunDir(out).require_new()
        return _launch(args.nproc, ["pretrain", "--config", args.config, "--out", str(out), *args.overrides], args.quiet)
    pretrain(cfg, out, quiet=args.quiet)
    return 0


def cmd_probe(args) -> int:
    from .pretrain import probe_run

    result = probe_run(args.run, checkpoint=args.checkpoint, linear=not args.no_linear, knn_k=args.knn_k,
                       device=args.device)
    line = f"kNN (k={result['knn_k']}) accuracy {100 * result['knn_acc']:.2f}%"
    if "linear_acc" in result:
        line += f", linear probe {100 * result['linear_acc']:.2f}%"
    print(line + f"  (checkpoint of epoch {result['epoch']}; written to {Path(args.run) / 'probe.json'})")
    return 0


def _launch(nproc: int, argv: list[str], quiet: bool) -> int:
    """``--nproc N``: the same command in N local worker processes (torchrun's environment)."""
    from .distributed import launch
    return launch(nproc, argv + (["--quiet"] if quiet else []))


def cmd_eval(args) -> int:
    from .evaluate_run import evaluate_run

    result = evaluate_run(args.run, split=args.split, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for split, acc in result["accuracy"].items():
            print(f"{split} accuracy: {100 * acc:.2f}%  ({result['size'][split]} samples)")
    return 0


def cmd_issues(args) -> int:
    from .label_issues import COLUMNS, DEFAULT_SCORE
    from .run_issues import export_labels, issues_from_run, plot_issues, write_report
    from .runfolder import RunDir

    if args.top < 0:
        raise UserError(f"--top must be >= 0, got {args.top}")
    run = RunDir(args.run).require()
    found = issues_from_run(run.path, score=args.score or DEFAULT_SCORE)
    write_report(run, found)
    li = found.issues
    print(f"{int(li.flagged.sum())} of {len(li)} training labels flagged (suggestion differs from the given label); "
          f"ranked list: {run.label_issues}")
    m = found.metrics
    if m:
        print(f"against the {m['num_noisy']} known wrong labels: AUROC {m['auroc']:.4f}, AP {m['ap']:.4f}, "
              f"precision@{m['k']} {m['precision_at_k']:.4f}; flagged set precision {m['flagged']['precision']:.3f}, "
              f"recall {m['flagged']['recall']:.3f}, F1 {m['flagged']['f1']:.3f}")
    if args.top:
        cols = [c for c in COLUMNS if c != "rank"]
        rows = list(li.rows(args.top))
        widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
        print("  ".join(f"{c:>{widths[c]}}" for c in cols))
        for r in rows:
            print("  ".join(f"{_fmt(r[c]):>{widths[c]}}" for c in cols))
    if args.export:
        out = export_labels(found, args.export, threshold=args.threshold, force=args.force)
        msg = f"wrote {args.export}: {out['num_changed']} of {out['num_samples']} labels changed"
        if "changes_correct" in out:
            msg += (f" ({out['changes_correct']} of them to the true class; wrong labels "
                    f"{out['wrong_before']} -> {out['wrong_after']})")
        print(msg + f"\nretrain with: sat train --config {run.config} data.labels={args.export} noise.kind=none")
    if args.plot:
        png = run.path / "label_issues.png"
        plot_issues(found, png)
        print(f"plot: {png}")
    return 0


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def cmd_selective(args) -> int:
    from .run_selective import evaluate_selective, plot_curves

    def floats(text, what):
        try:
            values = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise UserError(f"{what} must be comma-separated numbers, got {text!r}") from None
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise UserError(f"{what} values must be in [0, 1], got {text!r}")
        return values
    coverages, risks = floats(args.target_coverage, "--target-coverage"), floats(args.target_risk, "--target-risk")
    if args.val_size < 1 or args.calib_size < 0:
        raise UserError(f"--val-size must be >= 1 and --calib-size >= 0; got {args.val_size} and {args.calib_size}")
    results = []
    for run in args.runs:
        r = evaluate_selective(run, device=args.device, val_size=args.val_size, seed=args.seed,
                               target_coverages=coverages, target_risks=risks, calib_size=args.calib_size)
        results.append(r)
        pp = r["paper_protocol"]
        print(f"{run} ({r['loss']}, {r['score']}): accuracy {100 * r['accuracy']:.2f}%, AURC {100 * r['aurc']:.3f}%, "
              f"E-AURC {100 * r['e_aurc']:.3f}%")
        print("  selective error (%) at coverage " + " / ".join(f"{100 * c:g}" for c in pp["coverages"]) + ": "
              + " / ".join("-" if e is None else f"{100 * e:.2f}" for e in pp["test_selective_error"])
              + f"  (paper protocol, {pp['val_size']} shuffled test samples held out)")
        for row in r["deployable"]["rows"]:
            t = "inf" if row["threshold"] == float("inf") else f"{row['threshold']:.4f}"
            print(f"  target {row['target']} {row['value']:g}: threshold {t} (chosen on the calibration part) -> coverage "
                  f"{100 * row['test_coverage']:.2f}%, risk {100 * row['test_risk']:.2f}%")
    if args.plot:
        plot_curves(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


def cmd_robust(args) -> int:
    from .run_robust import evaluate_robust

    for run in args.runs:
        r = evaluate_robust(run, which=args.which, eps=args.eps, steps=args.steps, step_size=args.step_size,
                            autoattack=args.autoattack, limit=args.limit, device=args.device, split=args.split)
        print(f"{run}: eps {r['eps']:g}, {r['attack'].upper()} step {r['step_size']:.4g}, {r['size']} {r['split']} samples")
        for name in ("last", "best"):
            if name in r:
                accs = ", ".join(f"{k} {100 * v:.2f}%" for k, v in r[name].items() if k != "epoch")
                print(f"  {name} (epoch {r[name]['epoch']}): {accs}")
        print(f"  written to {r['file']}")
    return 0


def cmd_sweep(args) -> int:
    from .config import DEFAULT_PRESET
    from .sweep import format_table, sweep

    rows = sweep(args.config or DEFAULT_PRESET, args.out, args.overrides, jobs=args.jobs, quiet=args.quiet)
    if not args.quiet:
        print(format_table(rows))
        print(f"results: {Path(args.out) / 'results.csv'}; compare: sat report {Path(args.out)}/*/ --out report.html")
    return 0


def cmd_report(args) -> int:
    from .report import build_report

    out = build_report(args.runs, args.out)
    print(f"report: {out}")
    return 0


def cmd_presets(args) -> int:
    from .presets import describe, preset_paths

    presets = preset_paths()
    width = max(map(len, presets), default=0)
    for name, path in presets.items():
        print(f"{name:<{width}}  {describe(path)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sat", description="Self-Adaptive Training: learn from noisy labels.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (SAT on digits with 40%% flip noise by default)",
                       description="Train; settings come from the defaults <- --config <- key=value overrides.")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.05 loss.name=ce seed=1")
    t.add_argument("--config", help="a YAML file or a preset name (see `sat presets`); default digits-flip40-sat")
    t.add_argument("--out", help="run folder to create (default runs/<data>-<loss>-s<seed>-<time>)")
    t.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
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
    i.add_argument("--threshold", type=float, default=0.2,
                   help="--export changes a flagged label when the suggestion's (debiased) soft-target mass is "
                        ">= this (default 0.2, best of 0-0.6 in docs/benchmarks.md §5b)")
    i.add_argument("--force", action="store_true", help="let --export replace an existing file")
    i.add_argument("--plot", action="store_true", help="write RUN/label_issues.png (needs matplotlib)")
    i.set_defaults(func=cmd_issues)

    sl = sub.add_parser("selective", help="risk-coverage evaluation of one or more runs",
                        description="Write RUN/selective.json for each run: the risk-coverage curve, AURC, E-AURC, "
                                    "selective error at the paper's coverages, and thresholds chosen on a validation "
                                    "part for target coverages and risks, measured on the rest.")
    sl.add_argument("runs", nargs="+", metavar="RUN", help="run folders (task=selective, or any classifier)")
    sl.add_argument("--plot", metavar="PNG", help="draw all runs' risk-coverage curves into PNG")
    sl.add_argument("--val-size", type=int, default=2000, help="shuffled test samples held out as validation (2000)")
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

    pr = sub.add_parser("presets", help="list the shipped config presets")
    pr.set_defaults(func=cmd_presets)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `sat train --out X key=value` puts overrides after an option, which argparse leaves over
    if extra and getattr(args, "command", None) in ("train", "sweep", "pretrain") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UserError as e:
        print(f"sat: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"sat: error: {e}", file=sys.stderr)
        return e.exit_code
    except Interrupted as e:
        print(f"sat: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("sat: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
