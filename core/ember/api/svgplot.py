"""A small line-and-dot plot drawn as inline SVG on the server: no JavaScript, no
library, nothing to fetch. Only numbers and the escaped axis labels enter the markup."""

from __future__ import annotations

import datetime
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD = 560, 180, 70, 28, 10


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (value, unit)
        value /= 1024.0
    return ""  # unreachable


def human_seconds(value: float) -> str:
    if value < 120:
        return "%.1f s" % value
    if value < 7200:
        return "%.0f min" % (value / 60)
    return "%.1f h" % (value / 3600)


def _clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M")


def plot(points, title: str, y_format=str, step: bool = False) -> str:
    """An SVG of ``points`` [(epoch seconds, value)] oldest first, or a note when empty."""
    label = escape(title)
    if not points:
        return ('<svg class="plot" viewBox="0 0 %d %d" role="img" aria-label="%s">'
                '<text x="%d" y="%d" class="empty">no data yet</text></svg>'
                % (WIDTH, HEIGHT, label, WIDTH // 2 - 40, HEIGHT // 2))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y1 = max(max(ys), 1)
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD, HEIGHT - PAD_BOTTOM - PAD

    def at(x, y):
        fx = 0.5 if x1 == x0 else (x - x0) / (x1 - x0)
        return PAD_LEFT + fx * inner_w, PAD + (1 - y / y1) * inner_h

    coords = [at(x, y) for x, y in points]
    if step:  # a size holds until the next change
        stepped = []
        for i, (cx, cy) in enumerate(coords):
            if i:
                stepped.append((cx, coords[i - 1][1]))
            stepped.append((cx, cy))
        coords = stepped
    line = " ".join("%.1f,%.1f" % c for c in coords)
    dots = "".join('<circle cx="%.1f" cy="%.1f" r="2.5"/>' % at(x, y) for x, y in points)
    bottom = HEIGHT - PAD_BOTTOM
    return (
        '<svg class="plot" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<line class="axis" x1="{l}" y1="{p}" x2="{l}" y2="{b}"/>'
        '<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>'
        '<text x="{tl}" y="{ty}" class="tick" text-anchor="end">{ymax}</text>'
        '<text x="{tl}" y="{b}" class="tick" text-anchor="end">{ymin}</text>'
        '<text x="{l}" y="{tx}" class="tick">{xmin}</text>'
        '<text x="{r}" y="{tx}" class="tick" text-anchor="end">{xmax}</text>'
        '<polyline class="line" points="{line}"/><g class="dots">{dots}</g></svg>'
    ).format(w=WIDTH, h=HEIGHT, label=label, l=PAD_LEFT, p=PAD, b=bottom, r=WIDTH - PAD,
             tl=PAD_LEFT - 6, ty=PAD + 8, ymax=escape(y_format(y1)), ymin=escape(y_format(0)),
             tx=HEIGHT - 8, xmin=escape(_clock(x0)), xmax=escape(_clock(x1)), line=line,
             dots=dots)
