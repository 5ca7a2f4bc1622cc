"""EDGEDEPTH_MAX_THREADS caps what every backend is given, and the reports say the count really used."""

from __future__ import annotations

import pytest
import torch

from edgedepth.threads import torch_threads
from runtime.bench import machine_info
from runtime.errors import RequestError
from runtime.runners.onnxruntime import OnnxRuntimeRunner
from runtime.threads import (
    MAX_THREADS,
    MAX_THREADS_ENV,
    THREADS_PER_CORE,
    capped_threads,
    default_cap,
    usable_cores,
)
from tests.helpers import make_onnx_bundle


def test_no_cap_leaves_the_request_alone(monkeypatch):
    monkeypatch.delenv(MAX_THREADS_ENV, raising=False)
    assert capped_threads(4) == 4 and machine_info(3)["threads"] == 3


def test_the_cap_limits_runners_torch_and_the_machine_record(monkeypatch, tmp_path):
    monkeypatch.setenv(MAX_THREADS_ENV, "1")
    assert capped_threads(4) == 1 and capped_threads(1) == 1 and machine_info(4)["threads"] == 1
    with OnnxRuntimeRunner() as runner:
        runner.load(make_onnx_bundle(tmp_path / "b"), threads=4)
        assert runner.session.get_session_options().intra_op_num_threads == 1
    with torch_threads(4):
        assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "100000"])
def test_a_bad_cap_is_one_line(monkeypatch, value):
    monkeypatch.setenv(MAX_THREADS_ENV, value)
    with pytest.raises(RequestError, match=f"^{MAX_THREADS_ENV} must be a whole number of at least 1 and at most "
                       f"{MAX_THREADS}, got"):
        capped_threads(2)


def test_without_a_cap_threads_stay_within_a_few_per_core(monkeypatch):
    """500 threads on a few cores only spin: the count is capped at THREADS_PER_CORE per usable core."""
    monkeypatch.delenv(MAX_THREADS_ENV, raising=False)
    assert capped_threads(500) == default_cap() == max(4, THREADS_PER_CORE * usable_cores())
    assert machine_info(500)["threads"] == default_cap()
