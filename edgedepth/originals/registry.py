"""Which teacher specs are exportable networks, and the builder that makes each an Original: one per family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgedepth.originals import hf, networks, onnx_file
from edgedepth.originals.base import Original, OriginalError
from edgedepth.teachers import Teacher, create_teacher
from edgedepth.teachers.registry import parse_teacher_spec
from runtime.registry import Registry


@dataclass(frozen=True)
class _Builder:
    teacher: str  # the teacher spec's name ("hf", "raft_stereo", ...)
    build: Callable[[Any, str, tuple[int, int] | None], Original]
    # Where the export size reaches the teacher itself (onnx: a dynamic file runs at the size it is given):
    # (teacher keywords, size) -> teacher keywords; None when the builder alone applies the size.
    teacher_args: Callable[[dict[str, Any], tuple[int, int] | None], dict[str, Any]] | None = None


BUILDERS: Registry[_Builder] = Registry("exportable original", key=lambda entry: entry.teacher, error=OriginalError)
for _name, _build in (("hf", hf.build), ("midas_v21_small", networks.midas_small),
                      ("monodepth2", networks.monodepth2), ("raft_stereo", networks.raft_stereo),
                      ("aanet", networks.aanet)):
    BUILDERS.register(_Builder(_name, _build))
BUILDERS.register(_Builder("onnx", onnx_file.build, onnx_file.teacher_args))


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
    builder = BUILDERS.get(name)
    args = dict(teacher_args or {})
    teacher: Teacher = create_teacher(spec, **(builder.teacher_args(args, size) if builder.teacher_args else args))
    return builder.build(teacher, spec, size)
