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


def write_photos(folder: Path, count: int = 8) -> Path:
    """`count` PNG photos (procedural scenes' left views, two sizes) in nested folders, plus a non-image file."""
    import cv2

    from edgedepth.data import get_dataset

    for i, sample in enumerate(get_dataset("procedural", n=count, seed=7, height=96, width=128)):
        image = sample.left if i % 2 else cv2.resize(sample.left, (160, 120))
        target = folder / ("sub" if i >= count // 2 else "") / f"img{i}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    return folder


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


@pytest.fixture(autouse=True, scope="session")
def _private_teacher_cache(tmp_path_factory):
    """The CLI caches teacher outputs under $EDGEDEPTH_CACHE: point it at a temporary folder, never at ~/.cache."""
    import os

    previous = os.environ.get("EDGEDEPTH_CACHE")
    os.environ["EDGEDEPTH_CACHE"] = str(tmp_path_factory.mktemp("teacher-cache"))
    yield
    if previous is None:
        os.environ.pop("EDGEDEPTH_CACHE", None)
    else:
        os.environ["EDGEDEPTH_CACHE"] = previous
