"""The regime map's tables and figure (``regime_map``): markdown rows per cell and a bar chart per regime."""
from __future__ import annotations

from pathlib import Path


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown(table: dict) -> str:
    """The docs table: one row per cell, test accuracy (%) means over seeds."""
    lines = ["| regime | noise | CE last | CE noisy-val epoch | CE best (test) | SAT fixed E_s | SAT auto (E_s chosen) "
             "| ELR | SAT oracle E_s | AUROC fixed / auto |\n|" + "---|" * 10]
    for regime, kinds in table.items():
        for kind, c in kinds.items():
            chosen = ", ".join("never" if e is None else str(e) for e in c["auto_start_epochs"])
            best_es = max((v, e) for e, v in c["oracle_by_start_epoch"].items() if v is not None)[1] \
                if any(v is not None for v in c["oracle_by_start_epoch"].values()) else "-"
            oracle = "- (no grid)" if c["sat_oracle_last"] is None else f"{fmt(c['sat_oracle_last'])} (best E_s {best_es})"
            auroc = " / ".join("-" if v is None else f"{v:.3f}" for v in (c["detection_auroc_fixed"], c["detection_auroc_auto"]))
            lines.append(f"| {regime} | {kind} | {fmt(c['ce_last'])} | {fmt(c['ce_noisy_val'])} | {fmt(c['ce_best_test'])} "
                         f"| {fmt(c['sat_fixed_last'])} (E_s {c['fixed_start_epoch']}) | {fmt(c['sat_auto_last'])} ({chosen}) "
                         f"| {fmt(c['elr_last'])} | {oracle} | {auroc} |")
    return "\n".join(lines)


def markdown_sce(table: dict, before: str = "auto", after: str = "auto_sce", title: str = "SAT auto, SCE form") -> str:
    """One SAT auto column (``after``: auto_sce, auto_gate) beside another (``before``), CE and ELR, where it ran."""
    lines = [f"| regime | noise | CE last | SAT {before} | {title} (E_s chosen) | ELR | AUROC {before} / {after} |",
             "|" + "---|" * 7]
    for regime, kinds in table.items():
        for kind, c in ((k, c) for k, c in kinds.items() if c.get(f"sat_{after}_last") is not None):
            chosen = ", ".join("never" if e is None else str(e) for e in c[f"{after}_start_epochs"])
            auroc = " / ".join("-" if v is None else f"{v:.3f}" for v in (c[f"detection_auroc_{before}"],
                                                                          c[f"detection_auroc_{after}"]))
            lines.append(f"| {regime} | {kind} | {fmt(c['ce_last'])} | {fmt(c[f'sat_{before}_last'])} "
                         f"| {fmt(c[f'sat_{after}_last'])} ({chosen}) | {fmt(c['elr_last'])} | {auroc} |")
    return "\n".join(lines)


def figure(table: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    methods = [("ce_last", "CE last"), ("ce_noisy_val", "CE noisy-val epoch"), ("sat_fixed_last", "SAT fixed E_s"),
               ("sat_auto_last", "SAT auto"), ("elr_last", "ELR"), ("sat_oracle_last", "SAT oracle E_s")]
    fig, axes = plt.subplots(1, len(table), figsize=(4.2 * len(table), 3.6), sharey=False)
    for ax, (regime, kinds) in zip(axes if len(table) > 1 else [axes], table.items()):
        width = 0.13
        for j, (key, label) in enumerate(methods):
            ax.bar([i + (j - 2.5) * width for i in range(len(kinds))], [kinds[k][key] or 0 for k in kinds], width,
                   label=label)
        ax.set_xticks(range(len(kinds)), list(kinds))
        low = min(kinds[k][m] or 100 for k in kinds for m, _ in methods)
        ax.set_ylim(max(0, low - 5), 100)
        ax.set_title(regime)
        ax.set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
