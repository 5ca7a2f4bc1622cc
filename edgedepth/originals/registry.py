"""Which teacher specs are exportable networks, and the builder that makes each an Original: one per family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgedepth.originals import hf, networks
from edgedepth.originals.base import Original, OriginalError
from edgedepth.teachers import Teacher, create_teacher
from edgedepth.teachers.registry import parse_teacher_spec
from runtime.registry import Registry


@dataclass(frozen=True)
class _Builder:
    teacher: str  # the teacher spec's name ("hf", "raft_stereo", ...)
    build: Callable[[Any, str, tuple[int, int] | None], Original]


BUILDERS: Registry[_Builder] = Registry("exportable original", key=lambda entry: entry.teacher, error=OriginalError)
for _name, _build in (("hf", hf.build), ("midas_v21_small", networks.midas_small),
                      ("monodepth2", networks.monodepth2), ("raft_stereo", networks.raft_stereo),
                      ("aanet", networks.aanet)):
    BUILDERS.register(_Builder(_name, _build))


def exportable_specs() -> list[str]:
    """The teacher names whose networks export (what `export --model` takes)."""
    return sorted(BUILDERS.names())


def original_from_spec(spec: str, teacher_args: dict[str, Any] | None = None,
                       size: tuple[int, int] | None = None) -> Original:
    """The network `spec` names (a teacher spec with its keywords), at `size` or its family's default."""
    if spec.startswith("self:"):
        raise OriginalError(f"{spec} is a training objective, not a network: nothing to export "
                            f"(exportable: {', '.join(f'{n}:' for n in exportable_specs())})")
    name, _ = parse_teacher_spec(spec)
    if name not in BUILDERS:
        raise OriginalError(f"{spec} is not a network edgedepth can export (exportable: "
                            f"{', '.join(f'{n}:' for n in exportable_specs())})")
    teacher: Teacher = create_teacher(spec, **(teacher_args or {}))
    return BUILDERS.get(name).build(teacher, spec, size)
