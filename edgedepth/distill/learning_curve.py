"""Learning-curve pictures: a held-out metric against training minutes, with the baselines a student must beat.

Drawn with Pillow (the report's only drawing dependency), written atomically next to the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from runtime.atomic import atomic_file

WIDTH, HEIGHT = 720, 420
MARGIN = (70, 30, 30, 56)  # left, top, right, bottom
COLOURS = ((200, 40, 40), (30, 140, 60), (150, 60, 170), (220, 130, 0))
BASELINE = (90, 90, 200)
GRID = (225, 225, 225)
TEXT = (20, 20, 20)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values spanning [low, high]."""
    span = max(high - low, 1e-9)
    raw = span / count
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = step * int(low / step)
    return [round(first + i * step, 10) for i in range(count + 3) if low <= first + i * step <= high + 1e-12]


def draw_learning_curve(path: Path, minutes: list[float], series: dict[str, list[float]],
                        baselines: dict[str, float] | None = None, title: str = "") -> Path:
    """Write a PNG of each series (a held-out metric per time point) against training minutes, with each
    baseline as a dashed line."""
    from PIL import Image, ImageDraw, ImageFont

    if not minutes or not series or any(len(v) != len(minutes) for v in series.values()):
        raise ValueError("a learning curve needs at least one time point and as many values per series")
    baselines = baselines or {}
    everything = [v for values in series.values() for v in values] + list(baselines.values())
    low, high = min(everything), max(everything)
    pad = 0.08 * max(high - low, 1e-3)
    low, high = low - pad, high + pad
    x_max = max(max(minutes), 1e-3) * 1.02
    left, top, right, bottom = MARGIN
    plot_w, plot_h = WIDTH - left - right, HEIGHT - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * x / x_max, top + plot_h * (1 - (y - low) / (high - low))

    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for y in _ticks(low, high):
        _, py = xy(0, y)
        draw.line([(left, py), (left + plot_w, py)], fill=GRID)
        draw.text((6, py - 6), f"{y:.3g}", fill=TEXT, font=font)
    for x in _ticks(0, x_max):
        px, _ = xy(x, low)
        draw.line([(px, top), (px, top + plot_h)], fill=GRID)
        draw.text((px - 8, top + plot_h + 6), f"{x:g}", fill=TEXT, font=font)
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline=TEXT)
    for name, value in baselines.items():
        _, py = xy(0, value)
        for start in range(left, left + plot_w, 12):
            draw.line([(start, py), (min(start + 6, left + plot_w), py)], fill=BASELINE, width=2)
        draw.text((left + 6, py - 14), f"{name} {value:.3f}", fill=BASELINE, font=font)
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [xy(x, y) for x, y in zip(minutes, values, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.text((left + plot_w - 230, top + 8 + 14 * index), f"{name}: last {values[-1]:.3f}", fill=colour,
                  font=font)
    draw.text((left, 8), title or "held-out accuracy vs training minutes", fill=TEXT, font=font)
    draw.text((left + plot_w // 2 - 50, HEIGHT - 22), "training minutes", fill=TEXT, font=font)
    path = Path(path)
    with atomic_file(path) as tmp:
        image.save(tmp, format="PNG")
    return path
