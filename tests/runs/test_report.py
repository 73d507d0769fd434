"""sat report: one self-contained page from run folders, checked in a real (headless) browser."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_cli import assert_one_line_error, sat

from selfadaptive.config import load_config
from selfadaptive.runs.report import build_report
from selfadaptive.training.loop import train

FAST = ["model.base_width=64", "optim.epochs=3", "loss.start_epoch=1", "log.progress=false", "optim.lr=0.05",
        "data.val_fraction=0.2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A small sweep (two widths, two losses), a selective run scored by `sat selective`, a robust run."""
    root = tmp_path_factory.mktemp("runs")
    made = []
    for loss in ("sat", "ce"):
        for width in (32, 64):
            path = root / f"{loss}-w{width}"
            train(load_config(None, FAST + [f"loss.name={loss}", f"model.base_width={width}"]), path, quiet=True)
            made.append(path)
    sel = root / "selective"
    train(load_config(None, FAST + ["task=selective", "loss.name=sat_selective", "noise.kind=none"]), sel, quiet=True)
    assert sat("selective", str(sel), "--val-size", "150").returncode == 0
    rob = root / "robust"
    train(load_config(None, FAST + ["task=robust", "data.val_fraction=0.2", "noise.kind=none", "adversarial.eps=0.1",
                                    "adversarial.step_size=0.05", "adversarial.steps=2", "adversarial.eval_steps=2",
                                    "adversarial.eval_size=100", "adversarial.test_steps=3"]), rob, quiet=True)
    assert sat("issues", str(made[0])).returncode == 0
    return made, sel, rob


@pytest.mark.slow
def test_report_has_every_section_and_is_self_contained(runs, tmp_path):
    made, sel, rob = runs
    out = build_report([*made, sel, rob], tmp_path / "r.html")
    page = out.read_text()
    for sid in ("summary", "learning-curves", "noise", "dynamics", "detection", "risk-coverage", "robust"):
        assert f'<section id="{sid}">' in page, sid
    assert page.count("data:image/png;base64,") >= 8
    assert not re.search(r'(src|href)="(https?:)?//', page)          # nothing fetched from the network
    for path in (*made, sel, rob):
        assert path.name in page
    # the classify runs held out a validation split: each says which of its two models to use
    assert "<th>model to use</th>" in page and re.search(r"<td>(last|selected)</td>", page)
    # the four classify runs alone form a sweep over the model width, per loss
    sweep = build_report(made, tmp_path / "s.html").read_text()
    assert '<section id="sweep">' in sweep and "model.base_width" in sweep
    assert '<section id="risk-coverage">' not in sweep and '<section id="robust">' not in sweep


@pytest.mark.slow
def test_report_cli_errors(tmp_path):
    assert_one_line_error(sat("report", str(tmp_path / "none"), "--out", str(tmp_path / "r.html")), "run folder not found")
    assert not (tmp_path / "r.html").exists()


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("SAT_REQUIRE_CHROMIUM"):
            pytest.fail("SAT_REQUIRE_CHROMIUM is set but no chromium is installed")
        pytest.skip("chromium not installed (CI installs Debian's chromium)")
    return exe


@pytest.mark.slow
def test_report_renders_in_a_headless_browser(runs, tmp_path):
    exe = _chromium()
    made, sel, rob = runs
    out = build_report([*made, sel, rob], tmp_path / "r.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([exe, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the inline script ran to its last line, and nothing was logged to the console as an error
    assert 'data-ready="1"' in dom.stdout
    console = [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    assert not [l for l in console if re.search(r"error|uncaught", l, re.I)], console
    for sid in ("summary", "learning-curves", "noise", "dynamics", "detection", "risk-coverage", "robust"):
        assert f'id="{sid}"' in dom.stdout
    shot = tmp_path / "shot.png"
    res = subprocess.run([exe, *flags, "--window-size=1200,2400", f"--screenshot={shot}", out.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    from PIL import Image
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (2400, 1200)
    assert img.std() > 10 and (img < 128).mean() > 0.01       # not blank: text and plot lines on white


def test_tensorboard_logging_mirrors_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = tmp_path / "tb"
    train(load_config(None, FAST + ["log.tensorboard=true"]), run, quiet=True)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    rows = [__import__("json").loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    events = acc.Scalars("test_acc")
    assert [e.step for e in events] == [0, 1, 2]
    assert [e.value for e in events] == pytest.approx([r["test_acc"] for r in rows])
    assert "target_recovery" in acc.Tags()["scalars"]


def test_report_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    import sys

    from selfadaptive.errors import UserError
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # as on the base install
    with pytest.raises(UserError, match=r"pip install 'selfadaptive\[plot\]'"):
        build_report([tmp_path], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
