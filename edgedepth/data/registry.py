"""Datasets built by name: `get_dataset("procedural", n=8, seed=0, height=192, width=256)`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from edgedepth.data.images import ImageFolder
from edgedepth.data.middlebury import load_motorcycle
from edgedepth.data.procedural import SCENE_FAMILIES, make_scenes
from edgedepth.data.sample import StereoSample
from edgedepth.errors import ConfigError
from runtime.registry import Registry


class DatasetError(ConfigError):
    """An unknown dataset name or a keyword it does not take (one line, listing what would work)."""


# A factory's name is its function's, or its `dataset_name` (the benchmarks' names have hyphens); the benchmark
# readers register themselves when the registry is first asked.
DATASETS: Registry[Callable[..., Sequence[StereoSample]]] = Registry(
    "dataset", key=lambda fn: getattr(fn, "dataset_name", fn.__name__), builtin=("edgedepth.data.benchmarks",),
    error=DatasetError)


@DATASETS.register
def procedural(n: int = 16, seed: int = 0, height: int = 256, width: int = 384,
                family: str = "grounded") -> list[StereoSample]:
    """Seeded procedural scenes with exact ground truth ("grounded", or the older "classic" family)."""
    if family not in SCENE_FAMILIES:
        raise DatasetError(f"unknown scene family {family!r}; available: {', '.join(SCENE_FAMILIES)}")
    return make_scenes(n, seed, height, width, family)


@DATASETS.register
def motorcycle(max_width: int | None = None) -> list[StereoSample]:
    """The Middlebury 2014 motorcycle pair (one sample), optionally shrunk to `max_width`."""
    return [load_motorcycle(max_width)]


@DATASETS.register
def images(folder: str, files: list[str] | None = None, max_side: int | None = 1024) -> ImageFolder:
    """The photos of a folder (`runtime.images.list_images`) or the listed ones: single views without ground truth,
    read lazily."""
    return ImageFolder(folder, files, max_side)


def list_datasets() -> list[str]:
    """Names `get_dataset` accepts, sorted."""
    return DATASETS.names()


def get_dataset(name: str, **kwargs: Any) -> Sequence[StereoSample]:
    """The samples of the dataset called `name`, built with its keywords."""
    factory = DATASETS.get(name)
    signature = inspect.signature(factory)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise DatasetError(f"{name}: {exc}; it takes {', '.join(signature.parameters)}") from None
    return factory(**kwargs)


def procedural_training_samples(n_scenes: int, seed: int, height: int, width: int, teacher_scale: int = 2,
                                family: str = "grounded") -> list[StereoSample]:
    """`n_scenes` seeded procedural scenes of `family` at `teacher_scale`× the student's input size."""
    return list(get_dataset("procedural", n=n_scenes, seed=seed, height=height * teacher_scale,
                            width=width * teacher_scale, family=family))
