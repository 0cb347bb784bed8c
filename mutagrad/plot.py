"""PNG plots of the sweeps (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mutagrad.sweep import SEED_TOLERANCE, EpsilonCurve, ToleranceCurve


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def tolerance_plot(curves: Sequence[ToleranceCurve], title: str, path: str | Path) -> Path:
    """One panel per dtype, one colour per strategy: detection (solid) and false alarms
    (dashed) against tolerance, log x; recommended tolerances marked, the seed's 1e-7 too."""
    plt = _pyplot()
    dtypes = sorted({c.dtype for c in curves}, reverse=True)
    names = list(dict.fromkeys(c.strategy for c in curves))
    fig, axes = plt.subplots(len(dtypes), 1, figsize=(8, 3.6 * len(dtypes)), squeeze=False,
                             sharex=True)
    for row, dtype in enumerate(dtypes):
        ax = axes[row][0]
        for c in curves:
            if c.dtype != dtype:
                continue
            colour = f"C{names.index(c.strategy) % 10}"
            ax.plot(c.tolerances, c.detection, color=colour, label=c.strategy)
            ax.plot(c.tolerances, c.false_alarm, color=colour, linestyle="--")
            if c.recommended:
                ax.plot([c.recommended], [0.5], marker="v", color=colour, markersize=8)
        ax.axvline(SEED_TOLERANCE, color="grey", linewidth=1)
        ax.text(SEED_TOLERANCE, 1.03, " seed's 1e-7", color="grey", fontsize=8)
        eps = ", ".join(sorted({f"{c.epsilon:g}" for c in curves if c.dtype == dtype}))
        ax.set_title(f"{title}: {dtype}, epsilon {eps}", fontsize=10)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.1)
        ax.set_ylabel("share over tolerance")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="center left", title="solid: bugs caught\ndashed: false alarms\n"
                  "v: recommended", title_fontsize=7)
    axes[-1][0].set_xlabel("tolerance")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def epsilon_plot(curves: Sequence[EpsilonCurve], title: str, path: str | Path,
                 detection: dict[str, list[Any]] | None = None) -> Path:
    """The correct backward's difference against epsilon (log-log), theory's best marked;
    with a campaign, detection against epsilon below."""
    plt = _pyplot()
    rows = 2 if detection else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 4.5 * rows), squeeze=False)
    ax = axes[0][0]
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        ax.plot(c.epsilons, c.difference, marker=".", color=colour,
                label=f"{c.dtype}: best {c.best:.1e}")
        if c.theory:
            ax.axvline(c.theory, color=colour, linestyle=":", linewidth=1)
    ax.axhline(SEED_TOLERANCE, color="grey", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epsilon (dotted: theory's best step)")
    ax.set_ylabel("difference of the correct backward")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    if detection:
        ax2 = axes[1][0]
        for label, points in detection.items():
            points = sorted(points)
            ax2.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                     label=f"{label}: bugs detected")
            ax2.plot([p[0] for p in points], [p[2] for p in points], marker="x",
                     linestyle="--", label=f"{label}: false alarms")
        ax2.set_xscale("log")
        ax2.set_xlabel("epsilon")
        ax2.set_ylabel("share at the run's tolerance")
        ax2.legend(fontsize=8)
        ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
