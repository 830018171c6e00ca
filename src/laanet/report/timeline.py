"""The per-person score timeline of a video as inline SVG (no script, no font files, prints sharp).

One line per person (or, for results without ``people``, one line of the per-frame scores), P(fake) from 0 to 1
against time in seconds (frame index when the times are unknown), with the file's threshold dashed. Lines
differ in dash pattern and marker as well as colour, so they stay apart on a black-and-white print. Every text
in the SVG is escaped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 12, 36  # margins; the legend sits in the right one
# (colour, dash pattern, marker) per series, in order; colour-blind-safe (Okabe-Ito).
STYLES = (
    ("#d55e00", "", "circle"),
    ("#0072b2", "6 3", "square"),
    ("#009e73", "2 2", "diamond"),
    ("#cc79a7", "8 3 2 3", "circle"),
    ("#e69f00", "4 4", "square"),
    ("#56b4e9", "1 3", "diamond"),
)
MAX_LEGEND = 8


@dataclass(frozen=True)
class Series:
    """One line of the plot: ``points`` are (x, P(fake)) with x in seconds (or frames); None scores are gaps."""

    label: str
    points: list[tuple[float, float | None]]
    highlight: bool = False  # the person the file verdict comes from: drawn thicker


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _marker(kind: str, x: float, y: float, colour: str, title: str) -> str:
    tip = f"<title>{escape(title)}</title>"
    if kind == "square":
        return f'<rect x="{_fmt(x - 3)}" y="{_fmt(y - 3)}" width="6" height="6" fill="{colour}">{tip}</rect>'
    if kind == "diamond":
        pts = f"{_fmt(x)},{_fmt(y - 4)} {_fmt(x + 4)},{_fmt(y)} {_fmt(x)},{_fmt(y + 4)} {_fmt(x - 4)},{_fmt(y)}"
        return f'<polygon points="{pts}" fill="{colour}">{tip}</polygon>'
    return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.2" fill="{colour}">{tip}</circle>'


def timeline_svg(series: list[Series], threshold: float | None, *, x_label: str = "time (s)",
                 caption: str = "P(fake) over time") -> str:
    """The plot as an ``<svg>`` element (a string of markup whose every text is escaped)."""
    xs = [x for s in series for x, _ in s.points]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_hi - x_lo < 1e-9:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(p: float) -> float:
        return TOP + (1.0 - min(max(p, 0.0), 1.0)) * plot_h

    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(caption)}">',
             f"<title>{escape(caption)}</title>",
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#888"/>']
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = py(p)
        parts.append(f'<line x1="{LEFT}" y1="{_fmt(y)}" x2="{LEFT + plot_w}" y2="{_fmt(y)}" stroke="#e4e4e4"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end" font-size="11">{p:g}</text>')
    for t in _ticks(x_lo, x_hi):
        x = px(t)
        parts.append(f'<line x1="{_fmt(x)}" y1="{TOP + plot_h}" x2="{_fmt(x)}" y2="{TOP + plot_h + 4}" stroke="#888"/>')
        parts.append(f'<text x="{_fmt(x)}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">{t:g}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11">'
                 f"{escape(x_label)}</text>")
    parts.append(f'<text x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="11" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">P(fake)</text>')
    if threshold is not None and math.isfinite(threshold):
        y = py(threshold)
        parts.append(f'<line class="threshold" x1="{LEFT}" y1="{_fmt(y)}" x2="{LEFT + plot_w}" y2="{_fmt(y)}" '
                     f'stroke="#444" stroke-dasharray="5 4"><title>threshold {threshold:g}</title></line>')
    for k, s in enumerate(series):
        colour, dash, marker = STYLES[k % len(STYLES)]
        width = 2.6 if s.highlight else 1.6
        runs: list[list[tuple[float, float]]] = [[]]
        for x, p in sorted(s.points, key=lambda xp: xp[0]):
            if p is None or not math.isfinite(p):
                runs.append([])
            else:
                runs[-1].append((px(x), py(p)))
        for run in (r for r in runs if len(r) > 1):
            pts = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in run)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<polyline class="series" points="{pts}" fill="none" stroke="{colour}" '
                         f'stroke-width="{width}"{dash_attr}/>')
        for x, p in s.points:
            if p is not None and math.isfinite(p):
                parts.append(_marker(marker, px(x), py(p), colour, f"{s.label}: {x:g} → P(fake) {p:.3f}"))
        if k < MAX_LEGEND:
            ly = TOP + 10 + 18 * k
            lx = LEFT + plot_w + 14
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{colour}" '
                         f'stroke-width="{width}"{dash_attr}/>')
            parts.append(_marker(marker, lx + 11, ly, colour, s.label))
            parts.append(f'<text x="{lx + 28}" y="{ly + 4}" font-size="11">{escape(s.label[:22])}</text>')
    if len(series) > MAX_LEGEND:
        ly = TOP + 10 + 18 * MAX_LEGEND
        parts.append(f'<text x="{LEFT + plot_w + 14}" y="{ly + 4}" font-size="11">+{len(series) - MAX_LEGEND} more</text>')
    parts.append("</svg>")
    return "".join(parts)
