"""``sat report RUN [RUN ...] --out report.html``: one self-contained page comparing runs.

Reads only the run folders (config.yaml, summary.json, metrics.jsonl, and when present
robust.json, selective.json, label_issues.json).  Plots are matplotlib PNGs embedded as data
URIs; the only script is a small inline table sorter, so the page opens offline, from disk or
from an e-mail.  Sections appear when some run has the data for them:

* summary table (every run);
* learning curves (train loss, test and validation accuracy per epoch);
* noise: memorisation and recovery (clean / noisy training accuracy, target recovery), the
  training dynamics under corruption (clean and corrupted training and validation data, per
  run), and mislabeled-sample detection (AUROC per epoch, the final label-issue scores);
* risk-coverage curves (``sat selective``);
* robust accuracy (validation PGD per epoch; clean / FGSM / PGD of the last and best model);
* sweep curves: last-epoch accuracy (mean over seeds) against each numeric config key that
  differs between runs of one task on one data set (at most three such keys).
"""
from __future__ import annotations

import base64
import html
import io
import json
import warnings
from pathlib import Path

import yaml

from ..engine.runfolder import RunDir
from ..errors import UserError
from .page_head import PAGE_HEAD

SECTIONS = ("summary", "learning-curves", "noise", "dynamics", "detection", "risk-coverage", "robust", "sweep")


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_run(path) -> dict:
    """Everything the report uses from one run folder."""
    run = RunDir(path).require()
    try:
        config = _flatten(yaml.safe_load(run.config.read_text()) or {})
    except yaml.YAMLError:
        raise UserError(f"{run.config} is not valid YAML") from None
    return {"name": run.path.name, "path": str(run.path), "config": config, "summary": run.read_summary(),
            "metrics": run.read_metrics(), "robust": _load(run.robust), "selective": _load(run.path / "selective.json"),
            "issues": _load(run.path / "label_issues.json")}


def _figure(draw, width: float = 6.4, height: float = 3.6) -> str:
    """Run ``draw(ax)`` on a new figure; return an <img> tag with the PNG inline."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    draw(ax)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    with warnings.catch_warnings():       # long legends: a cramped layout is better than a warning
        warnings.simplefilter("ignore")
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _curves(runs: list[dict], key: str, ylabel: str, scale: float = 100.0):
    def draw(ax):
        for r in runs:
            rows = [m for m in r["metrics"] if m.get(key) is not None]
            if rows:
                ax.plot([m["epoch"] for m in rows], [scale * m[key] for m in rows], label=r["name"])
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
    return draw


DYNAMICS = (("train_acc_clean", "train, clean samples", "-"), ("train_memorised_noisy", "train, corrupted samples", "-"),
            ("val_acc", "validation, clean", "--"), ("val_acc_noisy", "validation, corrupted", "--"))


def dynamics_plot(run: dict):
    """The paper's Fig. 1 for one run: accuracy on clean and corrupted training and validation data."""
    def draw(ax):
        for key, label, style in DYNAMICS:
            rows = [m for m in run["metrics"] if m.get(key) is not None]
            if rows:
                ax.plot([m["epoch"] for m in rows], [100 * m[key] for m in rows], style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(run["name"], fontsize=9)
    return draw


def _has(runs: list[dict], key: str) -> bool:
    return any(m.get(key) is not None for r in runs for m in r["metrics"])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{100 * v:.2f}" if 0.0 <= v <= 1.0 else f"{v:.4g}"
    return html.escape(str(v))


def _table(header: list[str], rows: list[list], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(sid: str, title: str, body: str, note: str = "") -> str:
    note = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>{note}{body}</section>'


def summary_section(runs: list[dict]) -> str:
    cols = ["run", "task", "data", "loss", "epochs", "test acc last", "test acc best"]
    extra = [("noise_rate_realised", "noise rate"), ("target_recovery", "target recovery"),
             ("detection_auroc", "detection AUROC"), ("test_aurc_last", "AURC"), ("test_augrc_last", "AUGRC"),
             ("test_robust_acc_last", "robust last"), ("test_robust_acc_best", "robust best"),
             ("selection_val_acc_last", "val acc last (your labels)"), ("test_acc_at_selected", "test acc selected"),
             ("model_to_use", "model to use")]
    extra = [(k, label) for k, label in extra if any(r["summary"].get(k) is not None for r in runs)]
    rows = []
    for r in runs:
        s, c = r["summary"], r["config"]
        rows.append([r["name"], c.get("task", "classify"), c.get("data.name", ""), c.get("loss.name", ""),
                     s.get("epochs", len(r["metrics"])), s.get("test_acc_last", "-"), s.get("test_acc_best", "-")]
                    + [s.get(k, "-") if s.get(k) is not None else "-" for k, _ in extra])
    return _section("summary", "Summary", _table(cols + [label for _, label in extra], rows, "summary-table"),
                    "Accuracies in %. Best is the best epoch on the test set; robust best is the model chosen "
                    "by validation PGD; selected is the epoch best on the validation split's own labels, and "
                    "model to use says whether it clearly beats the last epoch there (summary.json's "
                    "model_to_use). Click a column to sort.")


def sweep_section(runs: list[dict]) -> str:
    """Final accuracy against each config key that varies across the runs (numeric keys as lines)."""
    keys = sorted({k for r in runs for k in r["config"]})
    varying = [k for k in keys if len({json.dumps(r["config"].get(k)) for r in runs}) > 1
               and k not in ("seed", "noise.seed", "data.root", "noise.file")]
    # a sweep varies a few settings of one task on one data set; anything else is a comparison
    same_setting = all(len({str(r["config"].get(k)) for r in runs}) == 1 for k in ("task", "data.name"))
    if len(runs) < 2 or not varying or len(varying) > 3 or not same_setting:
        return ""
    parts = []
    for key in varying:
        values = [r["config"].get(key) for r in runs]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            continue

        def draw(ax, key=key):
            others = [k for k in varying if k != key]
            groups: dict[str, list] = {}
            for r in runs:
                label = ", ".join(f"{k}={r['config'].get(k)}" for k in others) or "runs"
                groups.setdefault(label, []).append(r)
            for label, rs in groups.items():
                by_x: dict = {}         # seeds of one setting average into one point
                for r in rs:
                    by_x.setdefault(r["config"][key], []).append(100 * r["summary"].get("test_acc_last", float("nan")))
                xs = sorted(by_x)
                ax.plot(xs, [sum(by_x[x]) / len(by_x[x]) for x in xs], marker="o", label=label)
            ax.set_xlabel(key)
            ax.set_ylabel("test accuracy, last epoch (%)")
        parts.append(_figure(draw))
    if not parts:
        return ""
    return _section("sweep", "Sweep", "".join(parts), "Varying: " + ", ".join(varying))


def build_report(paths, out) -> Path:
    """Write the HTML report of runs ``paths`` to ``out``; returns its path."""
    if not paths:
        raise UserError("sat report needs at least one run folder")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("sat report draws its plots with matplotlib: pip install 'selfadaptive[plot]' (sat audit's "
                        "page needs no extra)") from None
    runs = [read_run(p) for p in paths]
    parts = [summary_section(runs)]
    curves = [_figure(_curves(runs, "train_loss", "training loss", 1.0)), _figure(_curves(runs, "test_acc", "test accuracy (%)"))]
    if _has(runs, "val_acc"):
        curves.append(_figure(_curves(runs, "val_acc", "validation accuracy (%)")))
    parts.append(_section("learning-curves", "Learning curves", "".join(curves)))
    if _has(runs, "train_acc_noisy"):
        figs = [_figure(_curves(runs, "train_acc_clean", "clean training samples: accuracy (%)")),
                _figure(_curves(runs, "train_acc_noisy", "noisy samples predicted as their true class (%)")),
                _figure(_curves(runs, "train_memorised_noisy", "noisy samples predicted as their wrong label (%)"))]
        if _has(runs, "target_recovery"):
            figs.append(_figure(_curves(runs, "target_recovery", "noisy samples whose target is the true class (%)")))
        parts.append(_section("noise", "Noise: memorisation and recovery", "".join(figs)))
    if _has(runs, "val_acc_noisy"):
        parts.append(_section("dynamics", "Training dynamics under corruption",
                              "".join(_figure(dynamics_plot(r)) for r in runs if _has([r], "val_acc_noisy")),
                              "Corrupted samples: for label noise, accuracy against the given (wrong) labels; for "
                              "image corruptions, accuracy on the replaced images. The validation copy is corrupted "
                              "by the same rule with its own seed."))
    if _has(runs, "detection_auroc") or any(r["issues"] for r in runs):
        body = _figure(_curves(runs, "detection_auroc", "mislabeled-sample detection AUROC", 1.0)) if _has(runs, "detection_auroc") else ""
        rows = [[r["name"], r["issues"].get("score", "-"), r["issues"].get("num_flagged", "-"),
                 r["issues"].get("auroc", "-"), r["issues"].get("ap", "-")] for r in runs if r["issues"]]
        if rows:
            body += _table(["run", "score", "flagged", "AUROC", "AP"], rows, "issues-table")
        parts.append(_section("detection", "Mislabeled-sample detection", body))
    selective = [r for r in runs if r["selective"].get("curve")]
    if selective:
        def draw(ax):
            for r in selective:
                c = r["selective"]["curve"]
                ax.plot([100 * v for v in c["coverage"]], [100 * v for v in c["risk"]],
                        label=f"{r['name']} (AURC {100 * r['selective']['aurc']:.2f})")
            ax.set_xlabel("coverage (%)")
            ax.set_ylabel("selective risk (%)")
        parts.append(_section("risk-coverage", "Risk-coverage", _figure(draw)))
    robust = [r for r in runs if r["robust"]]
    if robust or _has(runs, "val_robust_acc"):
        body = _figure(_curves(runs, "val_robust_acc", "validation robust accuracy (%)")) if _has(runs, "val_robust_acc") else ""
        rows = []
        for r in robust:
            for which in ("last", "best"):
                res = r["robust"].get(which)
                if res:
                    attack = r["robust"].get("attack", "pgd")
                    rows.append([r["name"], which, res.get("epoch", "-"), res.get("clean", "-"), res.get("fgsm", "-"),
                                 res.get(attack, "-"), res.get("autoattack", "-")])
        if rows:
            body += _table(["run", "model", "epoch", "clean", "FGSM", "PGD", "AutoAttack"], rows, "robust-table")
        parts.append(_section("robust", "Robust accuracy", body))
    parts.append(sweep_section(runs))
    page = PAGE.format(title=html.escape(f"selfadaptive report: {len(runs)} run(s)"), body="\n".join(p for p in parts if p),
                       runs=html.escape(", ".join(r["path"] for r in runs)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out


PAGE = PAGE_HEAD + """table {{ border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }}
th, td {{ border: 1px solid #ccc; padding: .25em .6em; text-align: right; }}
th {{ background: #f0f0f0; cursor: pointer; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 49%; margin: .2em; vertical-align: top; }} .note {{ color: #555; font-size: .9em; }}
</style></head>
<body><h1>{title}</h1><p class="note">Runs: {runs}</p>
{body}
<script>
document.querySelectorAll("table.sortable").forEach(function (table) {{
 table.querySelectorAll("th").forEach(function (th, col) {{
  th.addEventListener("click", function () {{
    var body = th.closest("table").tBodies[0];
    var rows = Array.from(body.rows);
    var asc = th.dataset.asc !== "1";
    th.dataset.asc = asc ? "1" : "0";
    rows.sort(function (a, b) {{
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    }});
    rows.forEach(function (r) {{ body.appendChild(r); }});
  }});
 }});
}});
document.body.dataset.ready = "1";
</script>
</body></html>
"""
