"""The report's accuracy-against-FPS scatter plot, drawn with Pillow (already what the device side reads and
writes pictures with; matplotlib would add tens of MB to an install for one chart). Every timed row with an
accuracy figure is a point; baselines, which have no speed, are dashed horizontal lines."""

from __future__ import annotations

import math

from runtime.host.report_model import HEADLINE, dataset_names, is_baseline, ordered_rows, report_task
from runtime.jsonsafe import as_float

SIZE = (900, 520)
MARGIN = (70, 30, 30, 60)  # left, top, right, bottom
COLOURS = {"reference": (40, 90, 200), "artifact": (230, 120, 20), "baseline": (120, 120, 120)}


def plot_data(report: dict) -> tuple[str, list[tuple[str, float | None, float, str]]]:
    """(y-axis label, [(label, fps or None for a baseline, accuracy, group)]) on the first dataset the torch
    student has the headline figure for; an empty list when nothing can be plotted."""
    label, key, _ = HEADLINE[report_task(report)]
    rows = [r for r in ordered_rows(report) if r.get("status", "ok") == "ok"]
    for name in dataset_names(report):
        points = []
        for row in rows:
            value = as_float(((row.get("accuracy") or {}).get(name) or {}).get(key))
            fps = as_float(row.get("fps"))
            if value is None or not math.isfinite(value) or (fps is None and not is_baseline(row)):
                continue
            group = "baseline" if is_baseline(row) else "reference" if row.get("reference") else "artifact"
            points.append((str(row.get("artifact")), None if is_baseline(row) else fps, value, group))
        if sum(p[1] is not None for p in points) >= 1:
            better = "higher" if key == "delta1" else "lower"
            # Pillow's built-in font has no Greek: the axis says delta1 where the tables say δ1.
            return f"{name} {label.replace('δ', 'delta')} ({better} is better)", points
    return "", []


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1) if high > low else 1.0
    return [low + i * step for i in range(count)]


def accuracy_fps_png(report: dict) -> bytes | None:
    """PNG bytes of the plot, or None when there is nothing to plot or Pillow is missing."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    axis_label, points = plot_data(report)
    timed = [p for p in points if p[1] is not None and p[1] > 0]
    if not timed:
        return None
    fps_low = min(p[1] for p in timed) / 1.6
    fps_high = max(p[1] for p in timed) * 1.6
    values = [p[2] for p in points]
    pad = max((max(values) - min(values)) * 0.1, 0.01)
    y_low, y_high = min(values) - pad, max(values) + pad
    left, top, right, bottom = MARGIN
    width, height = SIZE
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(fps: float) -> float:
        return left + plot_w * (math.log10(fps) - math.log10(fps_low)) / (math.log10(fps_high) - math.log10(fps_low))

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - y_low) / (y_high - y_low))

    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, width - right, height - bottom), outline=(90, 90, 90))
    for fps in _fps_ticks(fps_low, fps_high):
        x = x_of(fps)
        draw.line((x, top, x, height - bottom), fill=(232, 232, 232))
        draw.text((x, height - bottom + 6), f"{fps:g}", fill=(60, 60, 60), anchor="ma")
    for value in _ticks(y_low, y_high):
        y = y_of(value)
        draw.line((left, y, width - right, y), fill=(232, 232, 232))
        draw.text((left - 6, y), f"{value:.3g}", fill=(60, 60, 60), anchor="rm")
    draw.text((left + plot_w / 2, height - 18), "FPS (log scale)", fill=(30, 30, 30), anchor="mm")
    draw.text((left, 8), axis_label, fill=(30, 30, 30))
    for name, fps, value, group in points:
        colour = COLOURS[group]
        y = y_of(value)
        if fps is None:
            for x in range(left, width - right, 12):
                draw.line((x, y, min(x + 6, width - right), y), fill=colour, width=2)
            draw.text((width - right - 4, y - 4), name, fill=colour, anchor="rb")
            continue
        x = x_of(fps)
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=colour)
        draw.text((x + 8, y), name, fill=colour, anchor="lm")
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _fps_ticks(low: float, high: float) -> list[float]:
    """1, 2, 5 × powers of ten inside [low, high]."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0 ** exponent for m in (1, 2, 5) if low <= m * 10.0 ** exponent <= high]
    return ticks
