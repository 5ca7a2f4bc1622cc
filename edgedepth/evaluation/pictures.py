"""Depth-map pictures for the report: input | ground truth | teacher | fp32 student | each artifact | error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedepth.evaluation.items import EvalItem
from runtime.bundle import METRIC, RELATIVE
from runtime.colormap import colorize
from runtime.host.panels import write_panels_png
from runtime.preprocess import restore_output
from runtime.rows import ORIGINAL_REFERENCE, STUDENT_REFERENCE


def _inverse_depth_panel(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Colour a relative inverse-depth (or disparity) map by its own 2nd–98th percentile range."""
    usable = values[mask] if mask is not None and mask.any() else values.reshape(-1)
    lo, hi = np.percentile(usable, [2, 98]) if usable.size else (0.0, 1.0)
    image = colorize(values.astype(np.float32), vmin=float(lo), vmax=float(max(hi, lo + 1e-6)))
    if mask is not None:
        image = np.where(mask[..., None], image, 0).astype(np.uint8)
    return image


def _as_inverse(values: np.ndarray, kind: str) -> np.ndarray:
    """Metric depth shown as 1/depth (0 where not positive), so every panel reads near = bright."""
    if kind != METRIC:
        return values
    return np.where(values > 0, 1.0 / np.maximum(values, 1e-6), 0.0).astype(np.float32)


def _picture_items(items: list[EvalItem]) -> list[int]:
    """Indices of the first sample of each dataset."""
    seen, chosen = set(), []
    for index, item in enumerate(items):
        if item.dataset not in seen:
            seen.add(item.dataset)
            chosen.append(index)
    return chosen


def write_pictures(out_dir: Path, items: list[EvalItem], outputs: dict[str, list[np.ndarray]],
                   kind: str = RELATIVE) -> list[str]:
    """One PNG per dataset (outputs of `kind`, metric depth drawn as 1/depth); the last panel is |artifact − fp32
    student| of the last artifact, as % of range."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in _picture_items(items):
        item = items[index]
        height, width = item.sample.left.shape[:2]
        panels = [("input (left)", item.sample.left)]
        if item.sample.depth is not None and item.sample.valid is not None:
            inverse = np.where(item.sample.valid, 1.0 / np.maximum(item.sample.depth, 1e-6), 0.0)
            panels.append(("ground truth (1/depth)", _inverse_depth_panel(inverse, item.sample.valid)))
        if item.teacher is not None:
            teacher = _as_inverse(item.teacher.value, item.teacher.kind)
            panels.append((f"teacher ({item.teacher.kind})", _inverse_depth_panel(teacher, item.teacher.valid)))
        restored = {name: restore_output(raw[index], height, width) for name, raw in outputs.items()}
        for name, prediction in restored.items():
            panels.append((name, _inverse_depth_panel(_as_inverse(prediction, kind))))
        base = next((name for name in (STUDENT_REFERENCE, ORIGINAL_REFERENCE) if name in outputs), None)
        candidates = [name for name in outputs if name != base]
        if candidates and base is not None:
            last = candidates[-1]
            ref = np.asarray(outputs[base][index])
            got = np.asarray(outputs[last][index]).reshape(ref.shape)
            span = float(ref.max() - ref.min()) or 1.0
            error = restore_output(np.abs(got - ref) / span * 100.0, height, width)
            panels.append((f"|{last} - fp32| % (max {error.max():.1f})",
                           colorize(error, vmin=0.0, vmax=max(float(error.max()), 1e-6))))
        path = out_dir / f"{item.dataset}.png"
        write_panels_png(path, panels, columns=min(4, len(panels)))
        written.append(str(path))
    return written
