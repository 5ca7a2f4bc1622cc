"""Training objectives, built by name: distillation from a teacher (`distill`) and self-supervision on stereo
pairs (`self:stereo`) or video (`self:video`). Each module registers its objective; a new one is one module
with a `@register_objective` class, imported here (or anywhere before it is asked for)."""

from edgedepth.distill.objectives import self_stereo, self_video, teacher  # noqa: F401  (each registers its own)
from edgedepth.distill.objectives.registry import (
    Objective,
    get_objective,
    has_field,
    list_objectives,
    objective_of,
    register_objective,
    unavailable,
)
from edgedepth.distill.run import Run

__all__ = ["Objective", "Run", "get_objective", "has_field", "list_objectives", "objective_of",
           "register_objective", "unavailable"]
