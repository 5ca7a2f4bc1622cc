"""Resumable distillation: a run killed with SIGKILL, or stopped with Ctrl-C, continues from its training state
and ends with the weights of the run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from edgedepth.cli import main

ROOT = Path(__file__).resolve().parents[2]
STEPS = 8
TINY = ["--steps", str(STEPS), "--scenes", "4", "--size", "32x64", "--batch-size", "2", "--threads", "1",
        "--mixed-precision", "off", "--no-cache"]


def _assert_same_weights(path: Path, reference: Path) -> None:
    got, expected = load_file(str(path)), load_file(str(reference))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "student.safetensors"
    assert main(["distill", "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.slow  # a subprocess: ~12 s
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path, uninterrupted):
    out = tmp_path / "student.safetensors"
    state = tmp_path / "student.safetensors.state" / "state.safetensors"
    command = [sys.executable, "-m", "edgedepth", "distill", "--out", str(out), *TINY, "--checkpoint-every", "2"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not state.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)  # right after the first state: steps 3.. are lost and recomputed
    assert run.wait(timeout=30) == -signal.SIGKILL and not out.exists()
    assert main(["distill", "--out", str(out), *TINY, "--checkpoint-every", "2", "--resume"]) == 0
    _assert_same_weights(out, uninterrupted)
    assert not state.parent.exists()  # a finished run leaves no state behind


@pytest.mark.slow  # trains, is interrupted and trains again
def test_ctrl_c_saves_a_state_exits_130_and_resumes(tmp_path, uninterrupted, monkeypatch, capsys):
    from edgedepth.distill import loop

    real_lr_at = loop.lr_at

    def interrupting_lr_at(step: int, config) -> float:
        if step == 2 and not getattr(interrupting_lr_at, "sent", False):
            interrupting_lr_at.sent = True
            os.kill(os.getpid(), signal.SIGINT)  # during step 3: it finishes, then the run stops
        return real_lr_at(step, config)

    monkeypatch.setattr(loop, "lr_at", interrupting_lr_at)
    out = tmp_path / "student.safetensors"
    assert main(["distill", "--out", str(out), *TINY]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("edgedepth: interrupted after step 3/8; training state saved to"), lines
    assert not out.exists() and (tmp_path / "student.safetensors.state" / "state.safetensors").is_file()
    monkeypatch.setattr(loop, "lr_at", real_lr_at)
    assert main(["distill", "--out", str(out), *TINY, "--resume"]) == 0
    _assert_same_weights(out, uninterrupted)


def test_resuming_with_other_settings_is_one_line(tmp_path, monkeypatch, capsys):
    from edgedepth.distill import loop

    def stop_at_once(step: int, config) -> float:
        if step == 0:
            os.kill(os.getpid(), signal.SIGINT)
        return 1e-3

    monkeypatch.setattr(loop, "lr_at", stop_at_once)
    out = tmp_path / "student.safetensors"
    short = ["--steps", "2", *TINY[2:]]
    assert main(["distill", "--out", str(out), *short]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["distill", "--out", str(out), *short, "--lr", "0.1", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgedepth: error: the training state in") and "another configuration (lr differ)" in err


def test_a_state_written_before_a_field_existed_resumes_while_the_field_keeps_its_default(tmp_path):
    from edgedepth.distill.config import DistillConfig
    from edgedepth.distill.resume import TrainingState, fingerprint
    from edgedepth.errors import ConfigError

    old = fingerprint(DistillConfig())
    del old["scale_anchor"]  # a state written by an edgedepth that had no such field
    same = TrainingState(tmp_path, fingerprint(DistillConfig()), defaults=fingerprint(DistillConfig()))
    same._check({"config": old})
    changed = TrainingState(tmp_path, fingerprint(DistillConfig(scale_anchor=0.02)),
                            defaults=fingerprint(DistillConfig()))
    with pytest.raises(ConfigError, match=r"another configuration \(scale_anchor differ\)"):
        changed._check({"config": old})


def test_a_state_written_before_an_augmentation_existed_resumes_while_it_stays_off(tmp_path):
    from edgedepth.distill.config import DistillConfig
    from edgedepth.distill.resume import TrainingState, fingerprint
    from edgedepth.errors import ConfigError

    old = fingerprint(DistillConfig())
    for name in ("vignette", "blur", "color", "gamma", "jpeg", "zoom", "aspect"):
        del old["augment"][name]  # a state written before the camera and framing augmentations existed
    same = TrainingState(tmp_path, fingerprint(DistillConfig()), defaults=fingerprint(DistillConfig()))
    same._check({"config": old})
    framed = TrainingState(tmp_path, fingerprint(DistillConfig(augment={"zoom": 0.3})),
                           defaults=fingerprint(DistillConfig()))
    with pytest.raises(ConfigError, match=r"another configuration \(augment differ\)"):
        framed._check({"config": old})
