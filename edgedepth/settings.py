"""The schemas of edgedepth's own settings, one per kind of thing, on the checks of `runtime.validate`: a training
config's fields (whether they come from a flag or from a recipe), a student checkpoint's metadata, a recipe's
YAML. The command line's flag types are built from the same checks, so a value the command line refuses is
refused from a file too, in the same words, before any work."""

from __future__ import annotations

from typing import Any

from runtime.bundle import OUTPUT_KINDS, TASKS
from runtime.threads import MAX_THREADS
from runtime.validate import (
    MAX_TEXT_BYTES,
    Invalid,
    Schema,
    as_argument,
    check_tree,
    choice,
    flag,
    number,
    numbers,
    optional,
    read_text,
    text,
)

MAX_SIDE = 2048  # a student's input side: 2048² at batch 8 already needs tens of GB to train
MAX_STEPS = 10_000_000
MAX_BATCH = 4096
MAX_SCENES = 1_000_000
MAX_LR = 10.0
MAX_WIDTH = 4096  # any integer keyword of a model's architecture (features, widths): 200,000 asks for 4 GB


def input_size(value: Any, where: str) -> tuple[int, int]:
    """A student's input size: two whole numbers, positive multiples of 32, at most MAX_SIDE each."""
    side = number(32, MAX_SIDE, integer=True)
    height, width = numbers(side, (2,))(value, where)
    if height % 32 or width % 32:
        raise Invalid(f"{where}: expected positive multiples of 32, got {height}x{width}")
    return height, width


def size_argument(raw: str) -> tuple[int, int]:
    """--size HEIGHTxWIDTH through `input_size`."""
    import argparse

    try:
        values = [int(v) for v in raw.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH like 160x224, got '{raw}'") from None
    try:
        return input_size(values, "value")
    except Invalid as exc:
        raise argparse.ArgumentTypeError(f"input size {raw}: {str(exc).removeprefix('value: ')}") from None


def _keywords(value: Any, where: str) -> dict[str, Any]:
    """Keywords of a model or teacher: a mapping of names, its integers within MAX_WIDTH, numbers finite."""
    if not isinstance(value, dict):
        raise Invalid(f"{where}: expected a mapping of keywords, got {value!r}"[:200])
    check_tree(value, where, max_depth=8, max_nodes=10_000)
    for key, item in value.items():
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            number(-MAX_WIDTH, MAX_WIDTH)(item, f"{where}.{key}")
    return value


def _augment(value: Any, where: str) -> Any:
    """A recipe's augmentation: a mapping of `Augment` field names to numbers (or an Augment already built)."""
    from dataclasses import fields

    from edgedepth.distill.augment import Augment

    if isinstance(value, Augment):
        return value
    if not isinstance(value, dict):
        raise Invalid(f"{where}: expected a mapping of augmentation ranges, got {value!r}"[:200])
    known = {f.name for f in fields(Augment)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise Invalid(f"{where}: no augmentation named {', '.join(map(str, unknown))} (known: "
                      f"{', '.join(sorted(known))})")
    for key, item in value.items():
        number(0.0, 255.0)(item, f"{where}.{key}")
    try:
        Augment(**value)
    except ValueError as exc:
        raise Invalid(f"{where}: {exc}") from None
    return value


COUNT = number(0, MAX_STEPS, integer=True)
# Every field of every objective's config (TrainConfig and its subclasses) with a range; a field missing here
# passes unchecked and is the config's own to refuse.
TRAIN = Schema({
    "model": text(200), "model_kwargs": _keywords, "input_size": input_size,
    "scenes": number(1, MAX_SCENES, integer=True), "scene_family": text(100),
    "teacher_scale": number(1, 8, integer=True), "steps": number(1, MAX_STEPS, integer=True),
    "batch_size": number(1, MAX_BATCH, integer=True), "lr": number(above=0.0, high=MAX_LR),
    "weight_decay": number(0.0, 10.0), "warmup_steps": COUNT, "seed": number(0, 2**32 - 1, integer=True),
    "threads": number(1, MAX_THREADS, integer=True), "mixed_precision": text(20),
    "checkpoint_every": COUNT, "resume": flag,
    "teacher": text(4096), "teacher_kwargs": _keywords, "cache": optional(text(4096)),
    "gt_weight": number(0.0, 1e6), "eval_every": COUNT, "device": text(20),
    "micro_batches": number(1, MAX_BATCH, integer=True),
    "images": optional(text(4096)), "holdout": optional(number(1, MAX_SCENES, integer=True)),
    "max_side": number(32, 16384, integer=True), "init": optional(text(4096)), "trust_pickle": flag,
    "grad_alpha": number(0.0, 1e6), "scale_anchor": number(0.0, 1e6),
    "scene_aspect": optional(number(above=0.0, high=16.0)), "beta": number(above=0.0, high=1e6),
    "pairs": optional(text(4096)), "frames": optional(text(4096)), "intrinsics": optional(text(4096)),
    "frame_step": number(1, MAX_STEPS, integer=True), "hints": text(20), "augment": _augment,
})


def training_flag(field: str):
    """The argparse type of the flag that sets `field`: the same check a recipe's value goes through."""
    return as_argument(TRAIN.checks[field])


# What a student checkpoint's metadata must hold before a model is built from it (checkpoint.StudentInfo).
_CHANNELS = numbers(number(-1e6, 1e6), (3,))
STUDENT = Schema({
    "config": _keywords, "input_size": input_size, "mean": _CHANNELS,
    "std": numbers(number(1e-6, 1e6), (3,)), "output_kind": choice(*OUTPUT_KINDS), "task": choice(*TASKS),
    "teacher": lambda value, where: _mapping(value, where), "training": lambda value, where: _mapping(value, where),
    "toolkit_version": text(100),
})


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(f"{where}: expected a mapping, got {type(value).__name__}")
    return check_tree(value, where, max_depth=16, max_nodes=100_000)


def check_student(data: Any, where: str) -> dict[str, Any]:
    """A checkpoint's student metadata, checked field by field (a model name is the registry's to refuse)."""
    checked = STUDENT.check(data, where)
    if not isinstance(checked.get("config", {}).get("name"), str):
        raise Invalid(f"{where}.config: lacks the model's name")
    return checked


MAX_RECIPE_BYTES = MAX_TEXT_BYTES
MAX_RECIPE_NODES = 10_000  # a recipe is tens of values; a YAML alias bomb expands to billions


def load_yaml(path, what: str) -> Any:
    """A YAML file read as a server reads it: a regular UTF-8 file under MAX_RECIPE_BYTES, parsed safely, its
    tree bounded before anything walks it (aliases counted each time they are used, stopped at the cap)."""
    import yaml

    source = read_text(path, what, MAX_RECIPE_BYTES)
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise Invalid(f"cannot read {what} {path}: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise Invalid(f"{what} {path} nests too deep") from None
    return check_tree(data, f"{what} {path}", max_depth=16, max_nodes=MAX_RECIPE_NODES)
