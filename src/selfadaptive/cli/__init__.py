"""The ``sat`` command line.  Bad input prints one line and exits with code 2."""
from __future__ import annotations

import os
import sys

from ..errors import Interrupted, TrainingDiverged, UserError, first_line
from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `sat train --out X key=value` puts overrides after an option, which argparse leaves over
    if extra and getattr(args, "command", None) in ("train", "sweep", "pretrain", "audit", "config") and all("=" in e and not e.startswith("-") for e in extra):
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
    except BrokenPipeError:         # `sat presets | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as e:            # the file system said no: read-only, not a folder, disk full, ...
        where = f"{e.filename}: " if e.filename else ""
        print(f"sat: error: {where}{e.strerror or first_line(e)}", file=sys.stderr)
        return 2


__all__ = ["main", "build_parser"]
