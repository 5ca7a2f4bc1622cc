"""Shared fixtures: a small trained-for-a-few-steps student and its bundles, built once per session."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pytest


def _share_the_cores() -> None:
    """Under pytest-xdist, give each worker its share of the cores (EDGEDEPTH_MAX_THREADS, OMP_NUM_THREADS), set
    before torch is imported here and inherited by every subprocess a test starts: two workers of two threads
    each on two cores ran the training tests several times slower than two workers of one thread each."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers < 2 or "EDGEDEPTH_MAX_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = str(max(1, cores // workers))
    os.environ["EDGEDEPTH_MAX_THREADS"] = share
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, share)
    if "torch" in sys.modules:  # imported before this file by a plugin: its default count is set already
        sys.modules["torch"].set_num_threads(int(share))


_share_the_cores()

from tests.helpers import make_student  # noqa: E402  (after the thread share: it imports torch)


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory) -> Path:
    return make_student(tmp_path_factory.mktemp("student") / "student.safetensors")


@pytest.fixture(scope="session")
def onnx_bundles(tmp_path_factory, student_ckpt):
    """fp32 and int8 ONNX bundles of the session student."""
    from edgedepth.stages.export import export_student, quantize_student

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


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Offline Hugging Face with an empty cache of its own, and no socket may connect."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return cache


_WHOLE_MODULE_MARK = re.compile(r"^pytestmark = pytest\.mark\.(slow|e2e)\b", re.MULTILINE)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module marked slow or e2e as a whole is not imported when `-m` leaves that mark out: every test in it
    would be deselected anyway, and importing its converters (coremltools, litert) alone takes seconds."""
    expression = config.getoption("markexpr") or ""
    if not expression or not collection_path.name.startswith("test_") or collection_path.suffix != ".py":
        return None
    found = _WHOLE_MODULE_MARK.search(collection_path.read_text(encoding="utf-8"))
    if found and re.search(rf"\bnot {found.group(1)}\b", expression) and " or " not in expression:
        return True
    return None
