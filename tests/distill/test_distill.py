"""Distillation: the student learns the teacher's structure, deterministically, and the checkpoint records it."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.data.registry import procedural_training_samples
from edgedepth.distill.config import DistillConfig
from edgedepth.distill.dataset import build_distill_set, teacher_target
from edgedepth.distill.train import train
from edgedepth.teachers import create_teacher
from runtime.metrics import relative_depth_metrics

pytestmark = pytest.mark.slow

CONFIG = DistillConfig(input_size=(64, 96), scenes=12, steps=60, batch_size=4, lr=3e-3, warmup_steps=5, threads=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("distill") / "student.safetensors"
    return train(CONFIG, path, progress=False)


def test_loss_decreases_and_run_is_recorded(trained):
    _, info = load_student(trained)
    log = info.training["log"]
    assert log["fixed_set_loss_after"] < 0.8 * log["fixed_set_loss_before"], log
    assert info.training["config"]["steps"] == 60 and info.teacher["name"] == "sgbm"
    assert 0.3 < info.training["data"]["valid_fraction"] <= 1.0


def test_distillation_is_deterministic(tmp_path):
    """Two runs of one config give the same weights bit for bit (a short run: determinism does not need 60 steps)."""
    short = replace(CONFIG, scenes=4, steps=8)
    a, _ = load_student(train(short, tmp_path / "a.safetensors", progress=False))
    b, _ = load_student(train(short, tmp_path / "b.safetensors", progress=False))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_student_beats_a_constant_on_training_scenes(trained):
    """After 60 steps the student must already agree with the teacher better than a flat map does."""
    model, info = load_student(trained)
    from edgedepth.specs import input_spec

    samples = procedural_training_samples(4, 0, *info.input_size)
    data = build_distill_set(create_teacher("sgbm"), input_spec(info), samples, progress=False)
    with torch.no_grad():
        pred = model(torch.from_numpy(data.views["left"])).numpy()
    ours, flat = [], []
    for p, t, m in zip(pred, data.targets, data.masks, strict=True):
        depth = np.where(m, 1.0 / np.maximum(t, 1e-3), 1.0)
        ours.append(relative_depth_metrics(p, depth, m & (t > 0))["absrel"])
        noise = np.random.default_rng(0).random(p.shape)  # uninformative: aligns to ≈ a constant map
        flat.append(relative_depth_metrics(noise, depth, m & (t > 0))["absrel"])
    assert np.mean(ours) < np.mean(flat), (ours, flat)


def test_teacher_target_keeps_invalid_pixels_out():
    from edgedepth.data import get_dataset

    sample = get_dataset("procedural", n=1, seed=5, height=128, width=192)[0]
    target, mask = teacher_target(create_teacher("sgbm"), sample, 64, 96)
    assert target.shape == mask.shape == (64, 96)
    assert np.all(target[mask] > 0) and np.all(target[~mask] == 0)
    assert 0.3 < mask.mean() < 1.0


def test_schedule_warms_up_then_decays_to_five_percent():
    from edgedepth.distill.config import StereoDistillConfig
    from edgedepth.distill.loop import lr_at

    for config in (DistillConfig(lr=1e-3, warmup_steps=10, steps=110), StereoDistillConfig(lr=1e-3, warmup_steps=10,
                                                                                            steps=110)):
        rates = [lr_at(step, config) for step in range(config.steps)]
        assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
        assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))  # never rises after warm-up
        assert lr_at(config.steps, config) == pytest.approx(5e-5)


def test_a_loss_that_turns_nan_stops_the_run_in_one_line():
    from edgedepth.distill.loop import optimise
    from edgedepth.errors import EdgeDepthError

    model = torch.nn.Conv2d(3, 1, 1)
    calls = []

    def batch_loss(rng, net=model, part=slice(None)):
        calls.append(1)
        out = net(torch.ones(1, 3, 2, 2)).mean()
        return out * float("nan") if len(calls) == 3 else out

    config = DistillConfig(steps=6, threads=1, mixed_precision="off")
    with pytest.raises(EdgeDepthError, match=r"^the training loss became nan at step 3 of 6;") as caught:
        optimise(model, batch_loss, config, progress=False)
    assert "\n" not in str(caught.value) and len(calls) == 3


def test_a_gradient_that_turns_nan_under_a_finite_loss_stops_the_run_before_the_step():
    from edgedepth.distill.loop import optimise
    from edgedepth.errors import EdgeDepthError

    model = torch.nn.Conv2d(3, 1, 1)
    calls, weights = [], []

    def batch_loss(rng, net=model, part=slice(None)):
        calls.append(1)
        weights.append(model.weight.detach().clone())
        out = net(torch.ones(1, 3, 2, 2)).mean()
        if len(calls) == 3:  # finite forward (+ √0), NaN backward (sign(0)·∞ through |·| and √)
            out = out + torch.sqrt((out - out.detach()).abs())
        return out

    config = DistillConfig(steps=6, threads=1, mixed_precision="off")
    with pytest.raises(EdgeDepthError, match=r"^the training gradient became non-finite at step 3 of 6 \(loss "):
        optimise(model, batch_loss, config, progress=False)
    assert len(calls) == 3 and bool(torch.isfinite(model.weight).all())
    assert torch.equal(model.weight.detach(), weights[2])  # the bad step was not taken
