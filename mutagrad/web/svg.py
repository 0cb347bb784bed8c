"""The tolerance curve as inline SVG: detection and false alarms against tolerance (log x),
the safe window (over every correct difference, under every bug's) shaded. No JavaScript."""

from __future__ import annotations

import math
from html import escape
from typing import Any

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44


def _x(tol: float, lo: float, hi: float) -> float:
    return LEFT + (math.log10(tol) - lo) / (hi - lo) * (W - LEFT - RIGHT)


def _y(rate: float) -> float:
    return TOP + (1 - rate) * (H - TOP - BOTTOM)


def _path(xs: list[float], ys: list[float]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys)))


def tolerance_svg(curve: dict[str, Any], tolerance: float) -> str:
    """``curve`` is one entry of ``report.tolerance_json``'s curves."""
    tols = curve["tolerances"]
    lo, hi = math.log10(tols[0]), math.log10(tols[-1])
    xs = [_x(t, lo, hi) for t in tols]
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
              f'class="curve" aria-label="detection and false alarms against tolerance">')]
    correct, bug = curve["largest_correct"], curve["smallest_bug"]
    if curve["window"] and correct is not None and bug is not None:
        a = _x(max(correct, tols[0]), lo, hi)
        b = _x(min(bug, tols[-1]), lo, hi)
        parts.append(f'<rect class="window" x="{a:.1f}" y="{TOP}" width="{max(b - a, 1):.1f}" '
                     f'height="{H - TOP - BOTTOM}"><title>safe window: {correct:.2e} to '
                     f'{bug:.2e}</title></rect>')
    for rate in (0, 0.5, 1):
        y = _y(rate)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{rate:.0%}</text>')
    for decade in range(math.ceil(lo), math.floor(hi) + 1, 2):
        x = _x(10.0 ** decade, lo, hi)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
                     f'y2="{H - BOTTOM}"/><text x="{x:.1f}" y="{H - BOTTOM + 16}" '
                     f'text-anchor="middle">1e{decade}</text>')
    parts.append(f'<path class="detection" d="{_path(xs, [_y(r) for r in curve["detection"]])}"/>')
    parts.append(f'<path class="alarm" d="{_path(xs, [_y(r) for r in curve["false_alarm"]])}"/>')
    if tols[0] <= tolerance <= tols[-1]:
        x = _x(tolerance, lo, hi)
        parts.append(f'<line class="tolerance" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
                     f'y2="{H - BOTTOM}"><title>judged at {tolerance:g}</title></line>')
    parts.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">'
                 f'tolerance ({escape(curve["strategy"])}, epsilon {curve["epsilon"]:g}, '
                 f'{escape(curve["dtype"])})</text></svg>')
    return "".join(parts)
