"""Hostile inputs to `edgedepth quantize`, generated from tables: calibration folders with no usable image, a
calibration count below one, and an output where nothing can be written. Each is refused in one line (exit 2)
before any work, leaving every file as it was and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgedepth.cli import main as edgedepth_main
from tests.helpers import make_onnx_bundle
from tests.hostile import PROC, assert_refused


@pytest.fixture
def fp32_bundle(tmp_path) -> Path:
    return make_onnx_bundle(tmp_path / "onnx-fp32", name="onnx-fp32").path


CALIBRATION = {
    "empty folder": (lambda folder: None, "no image (.jpg"),
    "only a text file named .jpg": (lambda folder: (folder / "a.jpg").write_text("not a photo\n"),
                                    "cannot read image"),
}


@pytest.mark.parametrize("case", CALIBRATION)
def test_quantize_without_usable_calibration_images_is_refused(case, fp32_bundle, tmp_path, capsys):
    fill, needle = CALIBRATION[case]
    images = tmp_path / "calibration"
    images.mkdir()
    fill(images)
    argv = ["quantize", "--bundle", fp32_bundle, "--out", tmp_path / "int8", "--images", images, "--calibration", 2]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, needle)


@pytest.mark.parametrize("count", ["0", "-3", "many"])
def test_quantize_with_a_calibration_count_below_one_is_a_usage_error(count, fp32_bundle, tmp_path, capsys):
    argv = ["quantize", "--bundle", fp32_bundle, "--out", tmp_path / "int8", "--calibration", count]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, "--calibration")


# ---------------------------------------------------------------------------------------------- unwritable outputs

UNWRITABLE = {
    "quantize into /proc": (edgedepth_main, lambda b: ["quantize", "--bundle", b, "--out", f"{PROC}/int8",
                                                       "--calibration", 2], "cannot write"),
}


@pytest.mark.parametrize("case", UNWRITABLE)
def test_an_output_where_nothing_can_be_written_is_refused_first(case, fp32_bundle, tmp_path, capsys):
    main, argv, needle = UNWRITABLE[case]
    assert_refused(main, argv(fp32_bundle), capsys, tmp_path, 2, needle)
