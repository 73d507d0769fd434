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

    if args.resume:
        run = RunDir(args.resume).require()
        if args.config or args.out:
            raise UserError("--resume takes the run's own config; drop --config/--out")
        if args.overrides:
            raise UserError("--resume continues the run exactly as configured; overrides are not allowed")
        cfg = load_config(run.config)
        train(cfg, run.path, resume=True, quiet=args.quiet)
        return 0
    cfg = load_config(resolve_config(args.config or DEFAULT_PRESET), args.overrides)
    out = Path(args.out) if args.out else _default_out(cfg)
    train(cfg, out, quiet=args.quiet)
    return 0


def cmd_eval(args) -> int:
    from .evaluate_run import evaluate_run

    result = evaluate_run(args.run, split=args.split, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for split, acc in result["accuracy"].items():
            print(f"{split} accuracy: {100 * acc:.2f}%  ({result['size'][split]} samples)")
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
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's checkpoint")
    e.add_argument("run", help="run folder")
    e.add_argument("--split", choices=["test", "val", "train", "all"], default="all")
    e.add_argument("--device", default=None, help="override the run's device (e.g. cpu)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_eval)

    pr = sub.add_parser("presets", help="list the shipped config presets")
    pr.set_defaults(func=cmd_presets)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
