"""What decides a training run: one base of the fields every objective shares, the fields distillation from a
teacher adds, and each task's distillation config (a self-supervised objective keeps its config in its own file).

Torch-free on purpose: the task registry names these, and the command line reads them without loading a model.
Every config is recorded in the student's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from edgedepth.distill.augment import Augment

MIXED_PRECISION_CHOICES = ("auto", "bf16", "off")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
# Fields that say how a run is carried out, not what it learns: a resumed run may change them.
RUN_CONTROL_FIELDS = ("threads", "cache", "device", "micro_batches", "checkpoint_every", "resume")


@dataclass
class TrainConfig:
    """The fields every objective has: student, procedural scenes, optimisation, machine. Its defaults are the
    mono student's; a config overrides those that differ."""

    model: str = "midas_small_lite0"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] = (128, 192)
    scenes: int = 200  # procedural scenes, when no other data is given
    scene_family: str = "grounded"  # "grounded" (objects standing on the ground) or "classic" (floating solids)
    teacher_scale: int = 2  # scenes are rendered at this multiple of the student's input, then brought to it
    # Mono: on grounded scenes held-out δ1 still rises past 1,500 steps; 1,200 keep `make demo` within ~8 min.
    steps: int = 1200
    batch_size: int = 8
    lr: float = 4e-3  # mono held-out δ1 after 600 steps: 0.553 at 2e-3, 0.584 at 4e-3, 0.578 at 8e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    seed: int = 0
    threads: int = 2
    augment: Augment = field(default_factory=Augment)
    mixed_precision: str = "auto"  # "auto" (bf16 forward where the CPU has native bf16), "bf16" or "off"
    checkpoint_every: int = 0  # steps between resumable training states written next to the output (0: none)
    resume: bool = False  # continue from the training state next to the output, when there is one

    def __post_init__(self) -> None:
        """A recipe's `augment` mapping overrides only the fields it names of this config's own default."""
        if isinstance(self.augment, dict):
            default = next(f.default_factory for f in fields(self) if f.name == "augment")()
            self.augment = replace(default, **self.augment)


@dataclass
class TeacherConfig(TrainConfig):
    """What distillation from a teacher adds, for every task: the teacher and its output cache, ground truth mixed
    in, learning-curve measurements, and the ranks or micro-batches that share each batch."""

    teacher: str = "sgbm"
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    cache: str | None = None  # teacher-output cache directory; None computes every prediction afresh
    gt_weight: float = 0.0  # weight of the scenes' exact ground truth next to the teacher's targets
    eval_every: int = 0  # steps between held-out measurements for the learning curve (0: none)
    device: str = "auto"  # "auto" (CUDA where torch sees it, else the CPU), "cpu" or "cuda"
    # Each step's batch in this many equal parts, their gradients summed (each part's loss / parts): the
    # one-process twin of as many ranks (batch statistics and loss normalisation per part, as per rank).
    micro_batches: int = 1


@dataclass
class DistillConfig(TeacherConfig):
    """Mono distillation: a teacher's fields, plus photos to distil on, weights to start from and the
    relative-depth loss's weights."""

    images: str | None = None  # a folder of JPEG/PNG photos to distil on instead of procedural scenes
    holdout: int | None = None  # photos kept for verify (default 10 %, at least 1)
    max_side: int = 1024  # photos are shrunk to this longer side before the teacher sees them
    init: str | None = None  # weights to start from (official MiDaS v2.1 small .pt, or a student checkpoint)
    trust_pickle: bool = False
    grad_alpha: float = 0.2  # gradient matching weight (block-mean levels; see losses.gradient_matching_loss)
    scale_anchor: float = 0.01


@dataclass
class StereoDistillConfig(TeacherConfig):
    """Stereo distillation: a teacher's fields with a pair student's defaults, plus the scenes' aspect and the
    smooth-L1 transition."""

    model: str = "stereo_small"
    input_size: tuple[int, int] = (128, 256)
    # Measured on 2 cores at 128×256 (motorcycle bad-2.0 at the input width): 600 steps of 8 over 200 scenes
    # trained in 294 s to 41.2 %; 1,600 steps of 4 over 400 scenes at twice the rate train in 325 s to 19.8 %.
    scenes: int = 400
    steps: int = 1600
    batch_size: int = 4
    lr: float = 2e-3
    # The scenes' exact disparity next to SGBM's: dense where SGBM has holes (motorcycle bad-2.0 17.6 → 17.1 %).
    gt_weight: float = 1.0
    augment: Augment = field(default_factory=lambda: Augment(flip=0.0))  # mirroring a pair swaps its views
    # Height/width of the rendered scenes before they are resized to the input: photos are mostly 3:2 landscape,
    # and a 3:2 photo is squeezed vertically into the 1:2 input, so the student trains on scenes squeezed the
    # same way (demo: motorcycle bad-2.0 at input width 17.7 → 15.7 %, same steps). None renders at the input's aspect.
    scene_aspect: float | None = 2 / 3
    beta: float = 1.0  # smooth-L1 transition, pixels of the student's input
