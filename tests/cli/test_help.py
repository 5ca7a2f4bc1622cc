"""`edgedepth` help is generated from the registries and the config dataclasses, and flags left out leave the
recipe's and the config's values alone."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields

from edgedepth.cli import build_parser
from edgedepth.cli_help import fill, task_default
from edgedepth.tasks import get_task, list_tasks


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


def test_export_help_lists_every_registered_format_and_precision():
    from export.registry import get_exporter, list_formats

    text = _help("export")
    for fmt in list_formats():
        assert f"{fmt}: {', '.join(get_exporter(fmt).precisions)}" in text


def test_distill_help_lists_every_teacher_and_model():
    from edgedepth.models import list_models
    from edgedepth.teachers import list_teachers

    text = _help("distill")
    assert all(spec in text for spec in list_teachers())
    assert all(name in text for name in list_models())
    assert not re.search(r"\{(default:\w+|teachers|models|recipes)\}", text)  # every placeholder was filled


def test_defaults_in_help_are_the_config_defaults():
    text = _help("distill")
    steps = {task: get_task(task).config().steps for task in list_tasks()}
    assert f"optimisation steps (default {', '.join(f'{v} {t}' for t, v in steps.items())})" in text
    # a field every task agrees on is shown once
    seeds = {get_task(task).config().seed for task in list_tasks()}
    assert len(seeds) == 1 and task_default("seed") == str(seeds.pop())


def test_only_known_placeholders_are_filled():
    assert fill("{formats} and {unknown} and {default:steps}").endswith(task_default("steps"))
    assert "{unknown}" in fill("{unknown}")
    assert fill("{recipes}", percent=True).count("%") % 2 == 0


def test_omitted_flags_do_not_override_the_recipe():
    """A flag with an argparse default would silently beat a recipe's value: training flags default to None."""
    args = build_parser().parse_args(["distill", "--out", "x.safetensors"])
    config_fields = {f.name for task in list_tasks() for f in fields(get_task(task).config)}
    for dest in ("teacher", "seed", "threads", "steps", "model", "size", "lr", "scenes", "batch_size"):
        assert getattr(args, dest) is None, dest
    assert {"teacher", "seed", "threads"} <= config_fields


def test_building_the_parser_imports_no_torch():
    code = "import sys; from edgedepth.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
