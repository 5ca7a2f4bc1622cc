"""Shared fixtures: a small trained-for-a-few-steps student and its bundles, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.models import create_model

SIZE = (64, 96)


def make_student(path: Path, seed: int = 0, size: tuple[int, int] = SIZE, **model_kwargs) -> Path:
    """A seeded random-init `midas_small_lite0` checkpoint (weights' values do not matter for plumbing tests)."""
    torch.manual_seed(seed)
    model = create_model("midas_small_lite0", **model_kwargs)
    info = StudentInfo(config=dict(model.config), input_size=size, mean=list(model.input_mean),
                       std=list(model.input_std), output_kind=model.output_kind, teacher={"name": "sgbm"})
    return save_student(path, model, info)


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory) -> Path:
    return make_student(tmp_path_factory.mktemp("student") / "student.safetensors")


@pytest.fixture(scope="session")
def onnx_bundles(tmp_path_factory, student_ckpt):
    """fp32 and int8 ONNX bundles of the session student."""
    from edgedepth.pipeline import export_student, quantize_student

    out = tmp_path_factory.mktemp("bundles")
    fp32 = export_student(student_ckpt, out, "onnx")
    int8 = quantize_student(fp32, out, samples=4)
    return fp32, int8
