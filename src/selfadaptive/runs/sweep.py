"""``sat sweep``: a grid of runs in one folder, resumable, with one results table.

    sat sweep --config digits-flip40-sat --out runs/width model.base_width=16,64,256 loss.name=ce,sat seed=0,1

An override whose value has top-level commas (``key=a,b,c``) is an axis of the grid; others
(``optim.epochs=30``, ``optim.milestones=[10,20]``) apply to every run.  Each run goes to
``OUT/<key>=<value>-...`` as a normal run folder.  Rerunning the same command skips finished
runs (those with summary.json) and resumes interrupted ones from their checkpoint, so a sweep
survives being stopped.  At the end ``OUT/results.csv`` and ``OUT/results.json`` hold one row per
run, and ``OUT/sweep.json`` records the grid.
"""
from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..config import load_config, parse_override
from ..config.presets import resolve_config
from ..engine.runfolder import RunDir
from ..errors import Interrupted, UserError
from .sweep_verdict import TOLD_APART_P, validation_lead, validation_verdict  # noqa: F401  (their old home)

#: summary.json fields copied into the results table when present
RESULT_KEYS = ("test_acc_last", "test_acc_best", "best_epoch", "selection_val_acc_last", "selection_val_size",
               "momentum", "start_epoch",
               "start_epoch_chosen", "start_concentration", "target_recovery",
               "detection_auroc", "test_aurc_last", "test_augrc_last", "test_robust_acc_last", "test_robust_acc_best", "wall_time_s")


def split_axes(overrides: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separate ``key=a,b`` axes (values kept as text) from fixed ``key=value`` overrides."""
    axes, fixed = {}, []
    for text in overrides:
        key, _ = parse_override(text)
        raw = text.split("=", 1)[1]
        if "," in raw and not raw.strip().startswith(("[", "(", "{")):
            values = [v.strip() for v in raw.split(",")]
            if any(not v for v in values):
                raise UserError(f"sweep axis '{text}' has an empty value")
            if key in axes:
                raise UserError(f"sweep axis '{key}' is given twice")
            axes[key] = values
        else:
            fixed.append(text)
    return axes, fixed


def run_name(point: dict[str, str]) -> str:
    """Folder name of one grid point, e.g. ``loss.name=sat-model.base_width=64``."""
    safe = lambda v: "".join(c if c.isalnum() or c in "._+" else "_" for c in v)
    return "-".join(f"{k}={safe(v)}" for k, v in point.items()) or "run"


def grid(axes: dict[str, list[str]]) -> list[dict[str, str]]:
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def train_args(run: Path, config, overrides: list[str], command: str = "train") -> list[str]:
    """``sat train`` (or ``sat pretrain``) arguments that start run folder ``run`` from ``config``
    (None: the library defaults) + ``overrides`` or, when it already has a checkpoint, resume it."""
    if (run / "checkpoint.pt").is_file():
        return [command, "--resume", str(run), "--quiet"]
    return [command, *(["--config", str(config)] if config is not None else []), "--out", str(run), "--quiet",
            *overrides]


def run_commands(commands: list[list[str]], jobs: int, on_done=None) -> int | None:
    """Run ``python -m selfadaptive <args>`` for each args list, ``jobs`` at a time, each with
    cores / jobs threads unless OMP_NUM_THREADS is set.  ``on_done(i, exit_code)`` is called as
    command i ends.  SIGTERM is passed on to the running commands (training runs checkpoint) and
    no more are started; returns that signal's number, or None.  On Ctrl-C (which the commands
    receive too) it waits for them and re-raises."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    running: dict[int, subprocess.Popen] = {}
    stopped = []

    def on_sigterm(signum, frame):
        stopped.append(signum)
        for proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signum)
    previous = signal.signal(signal.SIGTERM, on_sigterm) if threading.current_thread() is threading.main_thread() else None

    def reap() -> None:
        for i, proc in list(running.items()):
            if proc.poll() is not None:
                del running[i]
                if on_done is not None:
                    on_done(i, proc.returncode)
    try:
        for i, args in enumerate(commands):
            while len(running) >= jobs and not stopped:
                reap()
                time.sleep(0.2)
            if stopped:
                break
            running[i] = subprocess.Popen([sys.executable, "-m", "selfadaptive", *args], env=env)
        while running:
            reap()
            time.sleep(0.2)
    except KeyboardInterrupt:
        for proc in running.values():
            proc.wait()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return stopped[0] if stopped else None


def sweep(config: str | None, out, overrides: list[str], jobs: int = 1, quiet: bool = False) -> list[dict]:
    """Run (or finish) the grid from ``config`` (a preset name or YAML path; None: the library
    defaults, as ``sat train`` on your own data); returns the results rows (also written to
    OUT/results.csv/json)."""
    axes, fixed = split_axes(overrides)
    if not axes:
        raise UserError("sat sweep needs at least one axis, e.g. model.base_width=16,64 (values separated by commas)")
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    config_path = resolve_config(config) if config is not None else None
    points = grid(axes)
    for point in points:        # every point must be a valid config before anything runs
        load_config(config_path, fixed + [f"{k}={v}" for k, v in point.items()])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": str(config_path) if config_path else None, "axes": axes, "fixed": fixed}
    old = out / "sweep.json"
    if old.is_file() and json.loads(old.read_text()) != record:
        raise UserError(f"{out} holds a different sweep ({old}); choose another --out")
    old.write_text(json.dumps(record, indent=2) + "\n")
    todo = [(out / run_name(point), [*fixed, *(f"{k}={v}" for k, v in point.items())]) for point in points]
    todo = [(run, over) for run, over in todo if not (run / "summary.json").is_file()]
    if not quiet:
        print(f"sweep {out}: {len(points)} runs, {len(points) - len(todo)} already done", flush=True)
    codes = {}

    def done(i: int, rc: int) -> None:
        codes[i] = rc
        if rc == 0 and not quiet:
            print(f"  done: {todo[i][0].name}", flush=True)
    stopped = run_commands([train_args(run, config_path, over) for run, over in todo], jobs, done)
    failed = [todo[i][0].name for i, rc in codes.items() if rc != 0]
    rows = results(out, points)
    if stopped:
        raise Interrupted(stopped, "SIGTERM received: the running sweep runs saved checkpoints; "
                                   "rerun the same sat sweep command to resume")
    if failed:
        raise UserError(f"{len(failed)} sweep run(s) failed ({', '.join(failed)}); rerun the same command to retry them")
    return rows


def results(out: Path, points: list[dict[str, str]]) -> list[dict]:
    """One row per grid point with its settings and summary numbers; writes results.csv/json."""
    rows = []
    for point in points:
        run = RunDir(out / run_name(point))
        summary = run.read_summary()
        rows.append({"run": run.path.name, **point, "done": bool(summary),
                     **{k: summary.get(k) for k in RESULT_KEYS if summary.get(k) is not None}})
    cols = list(dict.fromkeys(k for row in rows for k in row))
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def format_table(rows: list[dict]) -> str:
    cols = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in ("run", "done")]
    def fmt(c: str, v) -> str:
        if not isinstance(v, float):
            return str(v)
        if c == "momentum":
            return f"{v:.4g}"
        return f"{100 * v:.2f}" if 0 <= v <= 1 and c != "wall_time_s" else f"{v:.1f}"
    widths = {c: max(len(c), *(len(fmt(c, r.get(c, "-"))) for r in rows)) for c in cols}
    lines = ["  ".join(f"{c:>{widths[c]}}" for c in cols)]
    lines += ["  ".join(f"{fmt(c, r.get(c, '-')):>{widths[c]}}" for c in cols) for r in rows]
    return "\n".join(lines)
