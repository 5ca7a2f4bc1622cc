"""Recipes are YAML files (shipped by name, or any file) that set training fields per task and an export plan;
distill, export and demo take `--recipe NAME|FILE`, and flags given on the command line win."""

from __future__ import annotations

from dataclasses import fields

import pytest

from edgedepth.cli import _training_config, main
from edgedepth.errors import EdgeDepthError
from edgedepth.recipes import load_recipe, recipe_names
from edgedepth.stages.export import plan_exports
from edgedepth.tasks import get_task, list_tasks
from runtime.bundle import load_bundle


def test_shipped_recipes_are_valid_for_every_task():
    assert recipe_names() == ["demo", "jetson", "long", "phone"]
    for name in recipe_names():
        recipe = load_recipe(name)
        assert recipe.description and recipe.exports
        plan = plan_exports(recipe.exports)  # every format and precision it names exists
        assert plan and all(precision != "all" for _, precision in plan)
        for task in list_tasks():
            known = {f.name for f in fields(get_task(task).config)}
            assert set(recipe.train_fields(task)) <= known, (name, task)
    assert load_recipe("long").train_fields("mono")["eval_every"] == 500
    assert load_recipe("phone").layout == "NHWC" and set(load_recipe("phone").exports) == {"tflite", "coreml"}
    assert load_recipe("jetson").exports == {"onnx": ["fp16", "int8"]}


def test_recipe_files_and_their_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("description: mine\ntrain:\n  mono: {steps: 7}\nexport:\n  formats: {onnx: [fp32]}\n")
    recipe = load_recipe(str(good))
    assert recipe.train_fields("mono") == {"steps": 7} and recipe.train_fields("stereo") == {}
    config = _training_config("mono", str(good), {"steps": ("--steps", None), "lr": ("--lr", 1e-3)})
    assert config.steps == 7 and config.lr == 1e-3  # the recipe over the defaults, a flag over the recipe
    assert _training_config("mono", str(good), {"steps": ("--steps", 9)}).steps == 9
    cases = {
        "unknown recipe 'nope'": "nope",
        "unknown key colour": "colour: red\n",
        "layout must be one of": "export:\n  layout: NWHC\n",
        "export.formats must map": "export:\n  formats: [onnx]\n",
        "train must map each task": "train: [mono]\n",
        "expected a mapping": "- a list\n",
    }
    for message, text in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(EdgeDepthError, match=message):
            load_recipe("nope" if text == "nope" else str(path))
    path.write_text("train:\n  stereo: {warp: 2}\n")
    with pytest.raises(EdgeDepthError, match="stereo training has no field warp"):
        _training_config("stereo", str(path), {})
    with pytest.raises(EdgeDepthError, match="--images: not available with --task stereo"):
        _training_config("stereo", "demo", {"images": ("--images", "photos")})


@pytest.mark.e2e
def test_export_takes_its_plan_and_layout_from_a_recipe(student_ckpt, tmp_path, capsys):
    recipe = tmp_path / "nhwc.yaml"
    recipe.write_text("description: one NHWC ONNX file\nexport:\n  layout: NHWC\n  formats: {onnx: [fp32]}\n")
    out = tmp_path / "bundles"
    assert main(["export", "--student", str(student_ckpt), "--out", str(out), "--recipe", str(recipe)]) == 0
    bundle = load_bundle(out / "onnx-fp32")
    assert bundle.inputs[0]["layout"] == "NHWC" and bundle.inputs[0]["shape"][-1] == 3
    # --layout wins over the recipe
    assert main(["export", "--student", str(student_ckpt), "--out", str(out), "--recipe", str(recipe),
                 "--layout", "NCHW", "--force"]) == 0
    assert load_bundle(out / "onnx-fp32").inputs[0]["layout"] == "NCHW"
    assert main(["export", "--student", str(student_ckpt), "--out", str(out), "--recipe", "huge"]) == 2
    assert "unknown recipe 'huge'" in capsys.readouterr().err
