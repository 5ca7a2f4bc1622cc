"""Stereo distillation: train a two-view student to reproduce a stereo teacher's left-view disparity in pixels.

The targets are metric (pixels at the student's input size), so the loss is a masked smooth L1 on the
teacher's valid pixels, optionally plus the scenes' exact ground truth. Augmentation is photometric only: a
horizontal mirror of a stereo pair needs the views swapped and the right view's disparity, which the teacher
does not give, so `Augment.flip` must be 0 here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.data import get_dataset
from edgedepth.data.sample import StereoSample
from edgedepth.distill.augment import Augment, exposed, exposure_draws
from edgedepth.distill.config import StereoDistillConfig
from edgedepth.distill.dataset import label_samples, normalization, teacher_target
from edgedepth.distill.distributed import World, process_group, split_batch
from edgedepth.distill.loop import fixed_set_loss, on_device, optimise
from edgedepth.distill.monitor import CurveMonitor, stereo_evaluator, write_curve
from edgedepth.distill.resume import TrainingState, start_run
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.losses import masked_smooth_l1
from edgedepth.models import create_model
from edgedepth.specs import input_spec
from edgedepth.teachers.base import Teacher
from edgedepth.teachers.cache import build_teacher
from runtime.bundle import DISPARITY

TASK = "stereo"


@dataclass
class StereoDistillSet:
    """Normalised left/right inputs (N×3×H×W), teacher disparity (N×H×W, input pixels) and its validity;
    ground truth and its validity (N×H×W) when the scenes have it, else None."""

    lefts: np.ndarray
    rights: np.ndarray
    targets: np.ndarray
    masks: np.ndarray
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    gt: np.ndarray | None = None
    gt_masks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.lefts.shape[0])


def teacher_disparity(teacher: Teacher, sample: StereoSample, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's disparity resized to (height, width) and rescaled to that width's pixels, and its validity."""
    if teacher.kind != DISPARITY:
        raise ConfigError(f"stereo distillation needs a disparity teacher; {teacher.name!r} predicts {teacher.kind}")
    target, mask = teacher_target(teacher, sample, height, width)
    # Disparity is a horizontal distance: resizing the width by r multiplies it by r.
    target = (target * np.float32(width / sample.shape[1])).astype(np.float32)
    return target, mask


def build_stereo_distill_set(
    teacher: Teacher,
    spec: dict[str, Any],
    n_scenes: int,
    seed: int,
    teacher_scale: int = 2,
    with_gt: bool = False,
    progress: bool = True,
    family: str = "grounded",
    aspect: float | None = None,
) -> StereoDistillSet:
    """Generate procedural scenes at `teacher_scale`× the input width (and `aspect` × that width high, or the
    input's own aspect), run the teacher once per scene, and stack both views (same normalisation) with the
    teacher's disparity brought to the input size; disparity is horizontal, so only the width rescales it."""
    _, _, height, width = spec["shape"]
    render_height = height if aspect is None else max(1, round(width * aspect))
    samples = get_dataset("procedural", n=n_scenes, seed=seed, height=render_height * teacher_scale,
                          width=width * teacher_scale, family=family)
    data = label_samples(teacher, spec, samples, ("left", "right"), teacher_disparity, with_gt, progress)
    return StereoDistillSet(data.inputs["left"], data.inputs["right"], data.targets, data.masks,
                            *normalization(spec), data.gt, data.gt_masks)


def augment_pair(
    lefts: np.ndarray,
    rights: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    rng: np.random.Generator,
    config: Augment,
) -> tuple[np.ndarray, np.ndarray]:
    """Photometric augmentation of normalised N×3×H×W pairs: one exposure gain and offset per pair (both views),
    independent sensor noise per view; geometry is left alone so the disparity targets stay exact."""
    if config.flip:
        raise ValueError("stereo augmentation takes no flip: mirroring a pair swaps the views and needs the "
                         "right view's disparity; use Augment(flip=0.0)")
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    gain, bias, sigma = exposure_draws(rng, lefts.shape[0], config)  # one exposure per pair, noise per view
    out = [exposed(view, mean, std, gain, bias, sigma, rng) for view in (lefts, rights)]
    return out[0], out[1]


def _loss(pred: torch.Tensor, index: np.ndarray, data: StereoDistillSet, config: StereoDistillConfig) -> torch.Tensor:
    """Teacher term, plus gt_weight × the ground-truth term when the set has ground truth."""
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array[index]).to(pred.device)

    loss = masked_smooth_l1(pred, tensor(data.targets), tensor(data.masks), beta=config.beta)
    if config.gt_weight > 0 and data.gt is not None:
        loss = loss + config.gt_weight * masked_smooth_l1(pred, tensor(data.gt), tensor(data.gt_masks),
                                                          beta=config.beta)
    return loss


def _plain_loss(model: torch.nn.Module, data: StereoDistillSet,
                config: StereoDistillConfig) -> Callable[[np.ndarray], torch.Tensor]:
    """The un-augmented training loss on the pairs at an index (what `fixed_set_loss` measures)."""
    return lambda index: _loss(model(torch.from_numpy(data.lefts[index]), torch.from_numpy(data.rights[index])),
                               index, data, config)


def train_stereo(model: torch.nn.Module, data: StereoDistillSet, config: StereoDistillConfig,
                 progress: bool = True, monitor: CurveMonitor | None = None, state: TrainingState | None = None,
                 world: World | None = None) -> dict[str, Any]:
    """Optimise the student in place (AdamW, warm-up + cosine, photometric augmentation); returns a small log.
    `state` and `world`: the loop's resumable state and the ranks sharing the work (see `optimise`)."""
    plain = _plain_loss(model, data, config)
    before = fixed_set_loss(model, plain, len(data))
    mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)

    def batch_loss(rng: np.random.Generator, net: torch.nn.Module = model, part: slice = slice(None)) -> torch.Tensor:
        """The loss of `part` of one random augmented batch of pairs, through `net`."""
        index = rng.integers(0, len(data), size=config.batch_size)
        lefts, rights = augment_pair(data.lefts[index], data.rights[index], mean, std, rng, config.augment)
        views = on_device(net, *(torch.from_numpy(v[part]).contiguous(memory_format=torch.channels_last)
                                 for v in (lefts, rights)))
        return _loss(net(*views), index[part], data, config)

    log = optimise(model, batch_loss, config, "distill stereo", progress, monitor, state, world)
    return {**log, "fixed_set_loss_before": before, "fixed_set_loss_after": fixed_set_loss(model, plain, len(data))}


def distill_stereo(config: StereoDistillConfig, out_path: Path, force: bool = False, progress: bool = True) -> Path:
    """Build the stereo student and the teacher, make the distillation set, train, and save the checkpoint; under
    torchrun every rank trains on its share of each batch and rank 0 alone writes."""
    if config.teacher.partition(":")[0] == "self":
        raise EdgeDepthError(f"--teacher {config.teacher} trains a mono student from pairs or video; use it with "
                             "--task mono")
    with process_group(config.device) as world:
        return _distill_stereo(config, Path(out_path), force, progress and world.main, world)


def _distill_stereo(config: StereoDistillConfig, out_path: Path, force: bool, progress: bool, world: World) -> Path:
    """`distill_stereo` on one rank of `world`."""
    split_batch(config.batch_size, world.size, config.micro_batches)
    state = start_run(config, out_path)
    if config.augment.flip:
        raise ConfigError("stereo distillation takes no flip augmentation (set augment=Augment(flip=0.0))")
    model = create_model(config.model, **config.model_kwargs)
    if getattr(model, "output_kind", None) != DISPARITY:
        raise ConfigError(f"{config.model} is not a stereo student (output kind {getattr(model, 'output_kind', None)})")
    height, width = config.input_size
    stride = int(getattr(model, "stride", 1))
    if height % stride or width % stride:
        raise ConfigError(f"{config.model} needs an input size in multiples of {stride}, got {height}x{width}")
    teacher = build_teacher(config.teacher, config.teacher_kwargs, config.cache)
    info = StudentInfo(
        config=dict(model.config),
        input_size=(height, width),
        mean=list(model.input_mean),
        std=list(model.input_std),
        output_kind=model.output_kind,
        task=TASK,
        teacher=teacher.identity(),
    )
    data = build_stereo_distill_set(teacher, input_spec(info), config.scenes, config.seed, config.teacher_scale,
                                    with_gt=config.gt_weight > 0, progress=progress, family=config.scene_family,
                                    aspect=config.scene_aspect)
    monitor = CurveMonitor(stereo_evaluator(input_spec(info)), config.eval_every) if config.eval_every > 0 else None
    log = train_stereo(model, data, config, progress, monitor, state, world)
    if monitor is not None:
        log["curve"] = {"rows": monitor.rows, "baselines": monitor.evaluator.baselines}
    valid = data.targets[data.masks]
    max_disparity = getattr(model, "max_disparity", None)
    info.training = {
        "config": {**asdict(config), "input_size": [height, width]},
        "log": log,
        "data": {"dataset": "procedural", "scenes": config.scenes, "seed": config.seed, "family": config.scene_family,
                 "valid_fraction": round(float(data.masks.mean()), 4),
                 "target_max": round(float(valid.max()), 3) if valid.size else 0.0,
                 "beyond_max_disparity": (round(float(np.mean(valid >= max_disparity)), 4)
                                          if max_disparity and valid.size else 0.0),
                 "ground_truth": data.gt is not None},
    }
    if not world.main:
        return out_path
    saved = save_student(out_path, model, info, force=force)
    state.clear()
    if monitor is not None:
        write_curve(saved, monitor.rows, ("heldout_bad2", "motorcycle_bad2"), monitor.evaluator.baselines)
    return saved
