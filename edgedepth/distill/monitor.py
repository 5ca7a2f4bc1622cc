"""Learning curves: held-out accuracy measured every N training steps, against training minutes.

A monitor runs the student in eval mode on a small fixed evaluation set (held-out procedural scenes with exact
depth, and the real Middlebury motorcycle pair), so a long run shows whether more training still helps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgedepth.data import get_dataset
from edgedepth.data.sample import StereoSample
from runtime.metrics import position_prior, relative_depth_metrics, stereo_metrics
from runtime.preprocess import prepare_input, restore_output

HELD_OUT_SEED = 1_000_003  # the seed of verify's held-out procedural scenes: never trained on


@dataclass
class Evaluator:
    """How a student is measured during training, and what the obvious baselines score on the same data."""

    evaluate: Callable[[torch.nn.Module], dict[str, float]]
    baselines: dict[str, float] = field(default_factory=dict)


@dataclass
class CurveMonitor:
    """Calls `evaluator.evaluate(model)` every `every` steps (and after the last); keeps (step, minutes, metrics)."""

    evaluator: Evaluator
    every: int
    rows: list[dict] = field(default_factory=list)

    def __call__(self, model: torch.nn.Module, step: int, seconds: float, last: bool = False) -> None:
        """After optimisation step `step` (1-based) and `seconds` of training: measure when due."""
        if not (last or step % self.every == 0) or (self.rows and self.rows[-1]["step"] == step):
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            metrics = self.evaluator.evaluate(model)
        model.train(was_training)
        self.rows.append({"step": step, "minutes": round(seconds / 60.0, 3),
                          **{k: round(float(v), 4) for k, v in metrics.items()}})


def _held_out(count: int, height: int, width: int, family: str) -> list[StereoSample]:
    return list(get_dataset("procedural", n=count, seed=HELD_OUT_SEED, height=height, width=width, family=family))


def mono_evaluator(spec: dict, count: int = 16, family: str = "grounded") -> Evaluator:
    """δ1 and AbsRel (MiDaS alignment) on `count` held-out scenes and on the motorcycle, for a mono student;
    the top-to-bottom gradient's δ1 on both (the report's baseline row) as baselines."""
    from edgedepth.evaluation.items import noise_images
    from edgedepth.evaluation.scoring import gradient_rows
    _, _, height, width = spec["shape"]
    scenes = _held_out(count, height, width, family)
    motorcycle = get_dataset("motorcycle", max_width=448)[0]
    noise = noise_images(motorcycle.left.shape)
    images = [s.left for s in scenes] + [motorcycle.left] + noise
    inputs = torch.from_numpy(np.concatenate([prepare_input(image, spec) for image in images]))
    photo = len(scenes)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        outputs = model(inputs).float().numpy()
        held = [relative_depth_metrics(outputs[i], s.depth, s.valid) for i, s in enumerate(scenes)]
        h, w = motorcycle.left.shape[:2]
        moto = relative_depth_metrics(restore_output(outputs[photo], h, w), motorcycle.depth, motorcycle.valid)
        return {"heldout_delta1": float(np.mean([m["delta1"] for m in held])),
                "heldout_absrel": float(np.mean([m["absrel"] for m in held])),
                "motorcycle_delta1": moto["delta1"], "motorcycle_absrel": moto["absrel"],
                "motorcycle_position_prior": position_prior(outputs[photo], list(outputs[photo + 1:]))}

    h, w = motorcycle.left.shape[:2]
    held_gradient = gradient_rows(height, width, 0.0, 1.0)[0]
    held = [relative_depth_metrics(held_gradient, s.depth, s.valid)["delta1"] for s in scenes]
    moto = relative_depth_metrics(gradient_rows(h, w, 0.0, 1.0)[0], motorcycle.depth, motorcycle.valid)
    baselines = {"gradient heldout_delta1": float(np.mean(held)), "gradient motorcycle_delta1": moto["delta1"]}
    return Evaluator(evaluate, baselines)


def stereo_evaluator(spec: dict, count: int = 16, family: str = "grounded") -> Evaluator:
    """bad-2.0 on `count` held-out scenes and on the motorcycle at the student's input width, for a stereo
    student (disparity in pixels of the evaluated image); SGBM's, with its holes as misses, as the baseline."""
    from edgedepth.teachers import create_teacher
    from runtime.fit import restore_disparity

    _, _, height, width = spec["shape"]
    scenes = _held_out(count, height, width, family)
    motorcycle = get_dataset("motorcycle", max_width=width)[0]
    samples = scenes + [motorcycle]
    lefts = torch.from_numpy(np.concatenate([prepare_input(s.left, spec) for s in samples]))
    rights = torch.from_numpy(np.concatenate([prepare_input(s.right, spec) for s in samples]))

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        outputs = model(lefts, rights).float().numpy()
        bad2 = []
        for output, sample in zip(outputs, samples, strict=True):
            h, w = sample.left.shape[:2]
            bad2.append(stereo_metrics(restore_disparity(output, h, w), sample.disparity, sample.valid)["bad2"])
        return {"heldout_bad2": float(np.mean(bad2[:-1])), "motorcycle_bad2": float(bad2[-1])}

    sgbm = create_teacher("sgbm").predict(motorcycle)
    holes_as_misses = np.where(sgbm.valid, sgbm.value, 0.0)
    baseline = stereo_metrics(holes_as_misses, motorcycle.disparity, motorcycle.valid)["bad2"]
    return Evaluator(evaluate, {"SGBM motorcycle_bad2": float(baseline)})


def curve_path(checkpoint: Path) -> Path:
    """Where a checkpoint's learning curve is drawn: beside it, `<name>.curve.png`."""
    return Path(checkpoint).with_suffix(".curve.png")


def write_curve(checkpoint: Path, rows: list[dict], metrics: tuple[str, ...],
                baselines: dict[str, float] | None = None) -> Path:
    """Draw each of `metrics` (held-out first) against training minutes in one PNG next to the checkpoint, with
    the baselines as dashed lines."""
    from edgedepth.distill.learning_curve import draw_learning_curve

    minutes = [row["minutes"] for row in rows]
    series = {name: [row[name] for row in rows] for name in metrics}
    return draw_learning_curve(curve_path(checkpoint), minutes, series, baselines,
                               title=f"{Path(checkpoint).name}: {', '.join(metrics)} vs training minutes")
