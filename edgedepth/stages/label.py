"""`edgedepth label`: fill the teacher-output cache for a folder of photos ahead of distillation, each process
its share of the images (under torchrun by its rank, else by `--shard K/N`, else all of them).

The cache writes each entry to a temporary file and renames it into place, so processes labelling the same folder
at once (or a distillation reading it meanwhile) never see a partial entry, and an entry two of them compute
is simply written twice with the same content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.progress import progress_bar


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" → (K, N) with 0 ≤ K < N: this process takes images K, K+N, K+2N, …"""
    index, sep, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (-1, 0)
    if not sep or shard[1] < 1 or not 0 <= shard[0] < shard[1]:
        raise ConfigError(f"--shard takes K/N with 0 <= K < N (like 0/2), got {text!r}")
    return shard


def my_share(count: int, shard: tuple[int, int]) -> range:
    """The indices of `count` items that shard (K, N) labels: every N-th from K."""
    return range(shard[0], count, shard[1])


def label_folder(teacher_spec: str, teacher_kwargs: dict[str, Any], images: Path, cache: Path,
                 shard: tuple[int, int] = (0, 1), max_side: int = 1024, progress: bool = True) -> dict[str, Any]:
    """Run the teacher on this shard's images of `images` (read as distillation reads them: longer side shrunk
    to `max_side`) and store each prediction in the cache at `cache`; returns counts and the cache folder."""
    from edgedepth.data.images import ImageFolder
    from edgedepth.teachers.cache import CachedTeacher
    from edgedepth.teachers.registry import create_teacher
    from runtime.bundle import DISPARITY

    folder = ImageFolder(images, max_side=max_side)
    if len(folder) == 0:
        raise EdgeDepthError(f"no image in {images}")
    teacher = CachedTeacher(create_teacher(teacher_spec, **teacher_kwargs), cache)
    if teacher.kind == DISPARITY:
        raise EdgeDepthError(f"{teacher.name} is a stereo teacher and needs rectified pairs; --images gives single "
                             "photos (use a mono teacher: hf:, onnx: or midas_v21_small:)")
    share = my_share(len(folder), shard)
    for index in progress_bar(share, desc=f"label {teacher.name} {shard[0]}/{shard[1]}", disable=not progress,
                              unit="image"):
        teacher.predict(folder[index])
    return {"images": len(share), "of": len(folder), "computed": teacher.misses, "cached": teacher.hits,
            "directory": str(teacher.folder)}
