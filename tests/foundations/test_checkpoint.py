"""Checkpoints: safetensors round trip, strict loading, pickles refused, one-line errors."""

import os
import stat
import warnings

import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student, load_weights_strict, read_state_dict, save_student
from edgedepth.errors import EdgeDepthError
from edgedepth.models import create_model
from tests.helpers import make_student


def test_round_trip_restores_weights_and_info(tmp_path):
    path = make_student(tmp_path / "s.safetensors", seed=3)
    model, info = load_student(path)
    torch.manual_seed(3)
    original = create_model("midas_small_lite0")
    for key, value in original.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    assert info.input_size == (64, 96) and info.output_kind == "relative_inverse_depth"
    assert not model.training


def test_refuses_to_overwrite_without_force(tmp_path):
    path = make_student(tmp_path / "s.safetensors")
    model, info = load_student(path)
    with pytest.raises(EdgeDepthError, match="--force"):
        save_student(path, model, info)
    save_student(path, model, info, force=True)


def test_missing_and_corrupt_checkpoints_give_one_line_errors(tmp_path):
    with pytest.raises(EdgeDepthError, match="not found"):
        load_student(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(EdgeDepthError, match="corrupt checkpoint") as err:
        load_student(bad)
    assert "\n" not in str(err.value)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = make_student(tmp_path / "s.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeDepthError):
        load_student(path)


def test_pickle_payload_is_not_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Boom()}, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EdgeDepthError, match="trust-pickle") as info:
            read_state_dict(path)
    message = str(info.value)
    # One clear line: what was refused and the flag that allows it, never torch's "re-run with weights_only=False".
    assert message.startswith(f"refused to unpickle {path}") and "\n" not in message
    assert "weights_only" not in message and "Re-running" not in message
    assert not [w for w in caught if "pickle" in str(w.message).lower()]  # nothing leaks to stderr either


def test_checkpoints_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = make_student(tmp_path / "s.safetensors")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # safetensors' own writer made it 0600


def test_plain_state_dict_pt_loads_with_weights_only(tmp_path):
    model = create_model("midas_small_lite0")
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    state, _ = read_state_dict(path)
    fresh = create_model("midas_small_lite0")
    load_weights_strict(fresh, state, str(path))
    assert all(torch.equal(state[k], v) for k, v in fresh.state_dict().items())


def test_wrong_architecture_fails_strictly_with_names(tmp_path):
    state = create_model("midas_small_lite0").state_dict()
    with pytest.raises(EdgeDepthError, match="does not fit") as err:
        load_weights_strict(create_model("midas_small"), state, "lite0.pt")
    assert "missing" in str(err.value) or "wrong shape" in str(err.value)


def test_torch_runner_matches_the_plain_model(student_ckpt):
    """The reference runner's channels_last setting changes speed, not the numbers."""
    from edgedepth.torch_runner import TorchRunner

    model, info = load_student(student_ckpt)
    x = np.random.default_rng(0).normal(size=(1, 3, *info.input_size)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with TorchRunner(student_ckpt) as runner:
        runner.load(runner.student, 1)
        got = runner.infer({runner.input_spec["name"]: x})[runner.output_spec["name"]]
    assert got.shape == expected.shape and got.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * float(np.ptp(expected)) + 1e-7)
