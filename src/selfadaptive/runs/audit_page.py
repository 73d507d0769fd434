"""``audit.html``: one self-contained page of an audit, readable offline and on the base install.

Charts are inline SVG and thumbnails inline PNGs (encoded here with zlib), so the page needs
neither matplotlib nor a network.  It reads the run folder (config, metrics.jsonl, summary) and
the ranked issues; the thumbnails come from the user's own files, read again by their paths
(image folders) or through the run's data config (array sources).
"""
from __future__ import annotations

import base64
import html
import struct
import zlib
from pathlib import Path

import numpy as np

from ..engine.checkpoint import atomic_write
from ..engine.runfolder import RunDir
from ..training.model_choice import use_line
from .page_head import PAGE_HEAD


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG of ``image``: (H, W) grey or (H, W, 3) RGB uint8."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))       # filter type 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def _to_hwc(x) -> np.ndarray | None:
    """One sample as an (H, W[, 3]) uint8 picture, or None for a table row."""
    x = np.asarray(x)
    if x.ndim != 3:
        return None
    if x.dtype != np.uint8:         # float images: stretch to the full range for display
        lo, hi = float(x.min()), float(x.max())
        x = ((x - lo) / (hi - lo + 1e-12) * 255).round().astype(np.uint8)
    x = x.transpose(1, 2, 0)
    return x[..., 0] if x.shape[2] == 1 else x[..., :3]


def sample_views(run: RunDir, indices: list[int]) -> dict[int, str]:
    """HTML for each training index: an <img> thumbnail, or a short feature list for tables."""
    from ..config import load_config
    cfg = load_config(run.config)
    paths = run.read_source_paths()
    out = {}
    if cfg.data.name == "image_folder" and paths:
        from ..data.streaming import decode_image
        for i in indices:
            out[i] = decode_image(Path(cfg.data.root) / paths[i], 64).transpose(1, 2, 0)
    else:
        from ..data import build_data
        x = build_data(cfg.data).train.x
        for i in indices:
            picture = _to_hwc(x[i])
            out[i] = picture if picture is not None else np.asarray(x[i]).ravel()
    views = {}
    for i, v in out.items():
        if v.ndim >= 2:
            data = base64.b64encode(png_bytes(v)).decode()
            views[i] = f'<img alt="sample {i}" src="data:image/png;base64,{data}">'
        else:
            shown = ", ".join(f"{float(f):.3g}" for f in v[:8]) + (", ..." if len(v) > 8 else "")
            views[i] = f'<code>[{html.escape(shown)}]</code>'
    return views


def svg_lines(series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, marks=(), width=520,
              height=260) -> str:
    """A line chart of ``{name: [(x, y), ...]}``, with dashed vertical ``marks`` [(x, label)]."""
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 48, 10, 10, 36

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             f'fill="none" stroke="#999"/>']
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        parts.append(f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{y:.3g}</text>')
    for frac in (0.0, 0.5, 1.0):
        x = x0 + frac * (x1 - x0)
        parts.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="11">'
                     f'{x:.3g}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 4}" text-anchor="middle" font-size="12">'
                 f'{html.escape(xlabel)}</text>')
    parts.append(f'<text x="12" y="{(top + height - bottom) / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(top + height - bottom) / 2})">{html.escape(ylabel)}</text>')
    for x, label in marks:
        parts.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{height - bottom}" stroke="#555" '
                     f'stroke-dasharray="4 3"/><text x="{sx(x) + 3:.1f}" y="{top + 12}" font-size="11">'
                     f'{html.escape(label)}</text>')
    for n, (name, pts) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{line}"/>')
        parts.append(f'<text x="{width - right - 6}" y="{top + 14 + 14 * n}" text-anchor="end" font-size="11" '
                     f'fill="{colour}">{html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def svg_histogram(scores: np.ndarray, flagged: np.ndarray, bins: int = 30, width=520, height=260) -> str:
    """Stacked counts of suspicion scores: flagged samples (suggestion differs from the label) in red."""
    lo, hi = float(scores.min()), float(scores.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    kept, bad = np.histogram(scores[~flagged], edges)[0], np.histogram(scores[flagged], edges)[0]
    peak = max(int((kept + bad).max()), 1)
    left, bottom, top = 48, 36, 10
    bar_w = (width - left - 10) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for b in range(bins):
        x = left + b * bar_w
        h_kept = kept[b] / peak * (height - top - bottom)
        h_bad = bad[b] / peak * (height - top - bottom)
        base = height - bottom
        parts.append(f'<rect x="{x:.1f}" y="{base - h_kept:.1f}" width="{bar_w - 1:.1f}" height="{h_kept:.1f}" '
                     f'fill="#1f77b4"/><rect x="{x:.1f}" y="{base - h_kept - h_bad:.1f}" width="{bar_w - 1:.1f}" '
                     f'height="{h_bad:.1f}" fill="#d62728"/>')
    parts.append(f'<text x="{left}" y="{height - bottom + 14}" font-size="11">{lo:.3g}</text>'
                 f'<text x="{width - 10}" y="{height - bottom + 14}" font-size="11" text-anchor="end">{hi:.3g}</text>'
                 f'<text x="{(left + width) / 2}" y="{height - 4}" font-size="12" text-anchor="middle">suspicion score '
                 f'(red: flagged)</text><text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">{peak}'
                 f'</text>')
    return "".join(parts) + "</svg>"


def write_audit_page(run: RunDir, found, summary: dict, top: int = 48) -> Path:
    """Write ``run/audit.html``; returns its path."""
    li = found.issues
    rows = list(li.rows(top))
    views = sample_views(run, [int(r["index"]) for r in rows])
    metrics = run.read_metrics()
    curves = svg_lines({name: [(m["epoch"] + 1, m[key]) for m in metrics if m.get(key) is not None]
                        for name, key in (("train accuracy (given labels)", "train_acc"),
                                          ("validation accuracy (given labels)", "val_acc"),
                                          ("test accuracy", "test_acc"))},
                       "epoch", "accuracy",
                       marks=[(e + 1, label) for e, label in ((summary.get("start_epoch_chosen"), "SAT starts"),
                                                              (summary.get("selected_epoch"), "selected"))
                              if isinstance(e, int)])
    histogram = svg_histogram(li.in_index_order("score"), li.in_index_order("suggested_label")
                              != li.in_index_order("given_label"))
    cards = []
    for r in rows:
        where = html.escape(str(r.get("path", r["source_index"])))
        cards.append(f'<figure class="card">{views[int(r["index"])]}<figcaption><b>#{r["rank"]}</b> '
                     f'{where}<br>given <b>{html.escape(r["given_label"])}</b> &rarr; suggested '
                     f'<b>{html.escape(r["suggested_label"])}</b><br>score {float(r["score"]):.3f}'
                     f'</figcaption></figure>')
    start = summary.get("start_epoch_chosen")
    facts = [f"{len(li)} training samples, {int(li.flagged.sum())} flagged (the model's suggestion differs from the "
             f"given label)",
             "SAT started at epoch " + (f"{start}" if isinstance(start, int) else "- (the rule never fired: plain CE)"),
             f"test accuracy {100 * summary.get('test_acc_last', float('nan')):.2f}% at the last epoch (scored against "
             f"the test labels as given, which may hold errors too)"]
    if summary.get("selected_epoch") is not None:
        facts.append(f"best on the noisy validation split: epoch {summary['selected_epoch']}, test accuracy "
                     f"{100 * summary.get('test_acc_at_selected', float('nan')):.2f}%")
        if summary.get("model_to_use") is not None:
            facts.append(use_line(summary))
    if found.metrics:
        facts.append(f"against the known wrong labels: AUROC {found.metrics['auroc']:.4f}")
    page = PAGE.format(
        title=html.escape(f"Label audit: {run.path.name}"),
        facts="".join(f"<li>{html.escape(f)}</li>" for f in facts),
        cards="".join(cards), top=len(rows), histogram=histogram, curves=curves,
        files="label_issues.csv (every training sample, most suspicious first), held_out_label_issues.csv "
              "(the validation and test samples, by the kept model), corrected_labels.csv (retrain with "
              "data.labels=...), selected_model.pt, metrics.jsonl")
    path = run.path / "audit.html"
    atomic_write(path, lambda fh: fh.write(page.encode()))
    return path


PAGE = PAGE_HEAD + """.cards {{ display: flex; flex-wrap: wrap; gap: .6em; }}
.card {{ margin: 0; width: 150px; font-size: .8em; border: 1px solid #ddd; padding: .3em; }}
.card img {{ width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto .3em; }}
.card code {{ display: block; word-break: break-all; }}
.charts svg {{ margin: .3em; }} .note {{ color: #555; font-size: .9em; }}
</style></head>
<body><h1>{title}</h1>
<ul>{facts}</ul>
<h2 id="suspicious">The {top} most suspicious labels</h2>
<div class="cards">{cards}</div>
<h2 id="charts">Scores and learning curves</h2>
<div class="charts">{histogram}{curves}</div>
<p class="note">Files in this folder: {files}.</p>
<script>document.body.dataset.ready = "1";</script>
</body></html>
"""
