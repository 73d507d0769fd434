"""What each ``sat`` subcommand does: ``cmd_<name>(args) -> exit code``."""
from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

from ..errors import UserError


def _default_out(cfg) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{cfg.data.name}-{cfg.loss.name}-s{cfg.seed}-{stamp}"
    out, i = base, 1
    while out.exists():
        out, i = Path(f"{base}-{i}"), i + 1
    return out


def _names_own_data(overrides: list[str]) -> bool:
    """True when the overrides pick a data set other than the built-in demo's: ``sat train`` then
    starts from the library defaults (no injected noise, each model's own width, start_epoch=auto),
    not from the demo preset, whose settings belong to digits."""
    from ..config import parse_override
    from ..config.loading import DEMO_DATA
    return any(key == "data.name" and value != DEMO_DATA for key, value in map(parse_override, overrides))


def _base_config(args) -> str | None:
    """The config a command starts from: --config, else the library defaults when the overrides name
    the user's own data (no demo noise injected into their labels), else the digits demo preset."""
    from ..config import DEFAULT_PRESET
    return args.config or (None if _names_own_data(args.overrides) else DEFAULT_PRESET)


def cmd_train(args) -> int:
    from ..config import load_config
    from ..config.presets import resolve_config
    from ..engine.runfolder import RunDir
    from ..training.loop import train

    if args.nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {args.nproc}")
    if args.resume:
        run = RunDir(args.resume).require()
        if args.config or args.out:
            raise UserError("--resume takes the run's own config; drop --config/--out")
        if args.overrides:
            raise UserError("--resume continues the run exactly as configured; overrides are not allowed")
        cfg = load_config(run.config)
        if run.is_dead_end():       # it died before its first checkpoint: nothing to resume, so start it again
            if not args.quiet:
                print(f"note: {run.path} has no checkpoint yet (its run ended before the first one); starting it "
                      f"again from its config")
            if args.nproc > 1:
                return _launch(args.nproc, ["train", "--config", str(run.config), "--out", str(run.path)], args.quiet)
            train(cfg, run.path, quiet=args.quiet)
            return 0
        if args.nproc > 1:
            return _launch(args.nproc, ["train", "--resume", str(run.path), *(["--force"] if args.force else [])], args.quiet)
        train(cfg, run.path, resume=True, quiet=args.quiet, force=args.force)
        return 0
    config = _base_config(args)
    cfg = load_config(resolve_config(config) if config else None, args.overrides)
    out = Path(args.out) if args.out else _default_out(cfg)
    if args.nproc > 1:
        RunDir(out).require_new()      # one error line here rather than one per worker
        config = ["--config", args.config] if args.config else []
        return _launch(args.nproc, ["train", *config, "--out", str(out), *args.overrides], args.quiet)
    train(cfg, out, quiet=args.quiet)
    return 0


def cmd_pretrain(args) -> int:
    from ..config import load_config
    from ..config.presets import resolve_config
    from ..engine.runfolder import RunDir
    from ..ssl.pretrain import pretrain

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
    from ..ssl.pretrain import probe_run

    result = probe_run(args.run, checkpoint=args.checkpoint, linear=not args.no_linear, knn_k=args.knn_k,
                       device=args.device)
    line = f"kNN (k={result['knn_k']}) accuracy {100 * result['knn_acc']:.2f}%"
    if "linear_acc" in result:
        line += f", linear probe {100 * result['linear_acc']:.2f}%"
    print(line + f"  (checkpoint of epoch {result['epoch']}; written to {Path(args.run) / 'probe.json'})")
    return 0


def _launch(nproc: int, argv: list[str], quiet: bool) -> int:
    """``--nproc N``: the same command in N local worker processes (torchrun's environment)."""
    from ..engine.distributed import launch
    return launch(nproc, argv + (["--quiet"] if quiet else []))


def cmd_eval(args) -> int:
    from ..functional import balanced_differs, worst_class
    from ..runs.evaluate import evaluate_run

    result = evaluate_run(args.run, split=args.split, device=args.device, weights=args.model)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['model']} (epoch {result['epoch']})")
        for split, acc in result["accuracy"].items():
            balanced = result["balanced_accuracy"][split]
            line = f"{split} accuracy: {100 * acc:.2f}%  ({result['size'][split]} samples)"
            if balanced_differs(acc, balanced):       # imbalanced classes: the mean recall tells more
                worst = worst_class(result["per_class_accuracy"][split])
                names = result["class_names"]
                name = names[worst[0]] if worst[0] < len(names) else worst[0]
                line += f"; balanced {100 * balanced:.2f}%, worst class {name!s} at {100 * worst[1]:.2f}%"
            print(line)
    return 0


def cmd_issues(args) -> int:
    from ..engine.runfolder import RunDir
    from ..issues import DEFAULT_SCORE
    from ..issues.evaluate import export_labels, issues_from_run, plot_issues, write_report

    if args.top < 0:
        raise UserError(f"--top must be >= 0, got {args.top}")
    run = RunDir(args.run).require()
    found = issues_from_run(run.path, score=args.score or DEFAULT_SCORE)
    write_report(run, found)
    li = found.issues
    if found.from_predictions:
        print("note: SAT's targets never moved off the given labels (loss.start_epoch was not reached, or "
              "start_epoch=auto never fired or its collapse guard never let SAT start), so the ranking comes from "
              "the training passes: each sample's mean probability on its label, and the class last predicted",
              file=sys.stderr)
    print(f"{int(li.flagged.sum())} of {len(li)} training labels flagged (suggestion differs from the given label); "
          f"ranked list: {run.label_issues}")
    m = found.metrics
    if m:
        print(f"against the {m['num_noisy']} known wrong labels: AUROC {m['auroc']:.4f}, AP {m['ap']:.4f}, "
              f"precision@{m['k']} {m['precision_at_k']:.4f}; flagged set precision {m['flagged']['precision']:.3f}, "
              f"recall {m['flagged']['recall']:.3f}, F1 {m['flagged']['f1']:.3f}")
    if args.top:
        cols = [c for c in li.columns if c != "rank"]
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


def cmd_audit(args) -> int:
    from ..runs.audit import audit, audit_lines

    if args.top < 0:
        raise UserError(f"--top must be >= 0, got {args.top}")
    result = audit(args.data, args.out, args.overrides, quiet=args.quiet, top=args.top)
    print("\n".join(audit_lines(result, args.quiet)))
    return 0


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def cmd_selective(args) -> int:
    from ..selective.evaluate import evaluate_selective, plot_curves

    def floats(text, what):
        try:
            values = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise UserError(f"{what} must be comma-separated numbers, got {text!r}") from None
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise UserError(f"{what} values must be in [0, 1], got {text!r}")
        return values
    coverages, risks = floats(args.target_coverage, "--target-coverage"), floats(args.target_risk, "--target-risk")
    if args.val_size < 0 or args.calib_size < 0:
        raise UserError(f"--val-size and --calib-size must be >= 0 (0: the default); got {args.val_size} and "
                        f"{args.calib_size}")
    results = []
    for run in args.runs:
        r = evaluate_selective(run, device=args.device, val_size=args.val_size, seed=args.seed,
                               target_coverages=coverages, target_risks=risks, calib_size=args.calib_size)
        results.append(r)
        pp = r["paper_protocol"]
        print(f"{run} ({r['loss']}, {r['score']}): accuracy {100 * r['accuracy']:.2f}%, AURC {100 * r['aurc']:.3f}%, "
              f"E-AURC {100 * r['e_aurc']:.3f}%, AUGRC {100 * r['augrc']:.3f}%")
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
    from ..robust.evaluate import evaluate_robust

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
    from ..runs.sweep import format_table, split_axes, sweep, validation_verdict

    rows = sweep(_base_config(args), args.out, args.overrides, jobs=args.jobs, quiet=args.quiet)
    if not args.quiet:
        verdict = validation_verdict(rows, Path(args.out), axes=list(split_axes(args.overrides)[0]))
        print(format_table(rows) + (f"\n{verdict}" if verdict else ""))
        print(f"results: {Path(args.out) / 'results.csv'}; compare: sat report {Path(args.out)}/*/ --out report.html")
    return 0


def cmd_report(args) -> int:
    from ..runs.report import build_report

    out = build_report(args.runs, args.out)
    print(f"report: {out}")
    return 0


def cmd_config(args) -> int:
    from ..config import load_config
    from ..config.describe import describe_config
    from ..config.presets import resolve_config

    config = _base_config(args)
    print(describe_config(load_config(resolve_config(config) if config else None, args.overrides)))
    return 0


def cmd_presets(args) -> int:
    from ..config.presets import describe, preset_paths

    presets = preset_paths()
    width = max(map(len, presets), default=0)
    for name, path in presets.items():
        print(f"{name:<{width}}  {describe(path)}")
    return 0

