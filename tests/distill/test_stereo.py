"""Stereo distillation: the masked smooth-L1 loss, targets in the student's pixels, pair augmentation, and a tiny
run that writes a reloadable stereo checkpoint."""

import math

import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.data import get_dataset
from edgedepth.distill.augment import Augment, augment_pair
from edgedepth.distill.config import StereoDistillConfig
from edgedepth.distill.dataset import DistillSet, build_distill_set, teacher_disparity
from edgedepth.distill.losses import masked_smooth_l1
from edgedepth.distill.objectives.teacher import training_samples
from edgedepth.distill.train import train
from edgedepth.tasks import get_task
from edgedepth.teachers import create_teacher

pytestmark = pytest.mark.slow

CONFIG = StereoDistillConfig(input_size=(64, 128), scenes=4, steps=5, batch_size=2, warmup_steps=2, threads=1,
                             model_kwargs={"max_disparity": 32})


def test_masked_smooth_l1_hand_computed():
    pred = torch.tensor([[[0.0, 0.0, 0.0, 0.0]]])
    target = torch.tensor([[[0.5, 3.0, 100.0, 2.0]]])
    mask = torch.tensor([[[True, True, False, True]]])
    # beta 1: 0.5·0.5² = 0.125, 3 − 0.5 = 2.5, 2 − 0.5 = 1.5 → mean 4.125 / 3
    assert float(masked_smooth_l1(pred, target, mask)) == pytest.approx(4.125 / 3)
    # beta 2: 0.5²/4 = 0.0625, 3 − 1 = 2, 2²/4 = 1 → mean 3.0625 / 3
    assert float(masked_smooth_l1(pred, target, mask, beta=2.0)) == pytest.approx(3.0625 / 3)
    assert float(masked_smooth_l1(pred[:, None], target[:, None], mask[:, None])) == pytest.approx(4.125 / 3)


def test_masked_pixels_contribute_neither_value_nor_gradient():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 8, 10, generator=g) * 20
    mask = torch.rand(2, 8, 10, generator=g) > 0.3
    pred = (target + torch.randn(2, 8, 10, generator=g)).requires_grad_(True)
    loss = masked_smooth_l1(pred, target, mask)
    loss.backward()
    assert torch.all(pred.grad[~mask] == 0) and torch.any(pred.grad[mask] != 0)
    wild_target = torch.where(mask, target, torch.full_like(target, math.nan))
    wild_pred = torch.where(mask, pred.detach(), torch.full_like(target, 1e6)).requires_grad_(True)
    again = masked_smooth_l1(wild_pred, wild_target, mask)
    again.backward()
    assert float(again.detach()) == pytest.approx(float(loss.detach()))
    assert torch.isfinite(wild_pred.grad).all() and torch.all(wild_pred.grad[~mask] == 0)


def test_all_masked_gives_zero_with_zero_gradient():
    pred = torch.randn(2, 4, 4, requires_grad=True)
    loss = masked_smooth_l1(pred, torch.full((2, 4, 4), math.nan), torch.zeros(2, 4, 4, dtype=torch.bool))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))
    with pytest.raises(ValueError):
        masked_smooth_l1(pred, torch.zeros(2, 4, 5), torch.ones(2, 4, 5, dtype=torch.bool))


def test_teacher_disparity_is_in_the_student_pixels():
    """SGBM runs at 2× the student's size; its disparity must be halved with the width to match the truth."""
    sample = get_dataset("procedural", n=1, seed=4, height=128, width=256)[0]
    target, mask = teacher_disparity(create_teacher("sgbm"), sample, 64, 128)
    small = sample.resized(64, 128)
    both = mask & small.valid
    assert target.shape == mask.shape == (64, 128) and both.mean() > 0.3
    assert np.median(np.abs(target[both] - small.disparity[both])) < 0.5
    assert np.all(target[~mask] == 0)


SPEC = {"name": "image", "shape": [1, 3, 64, 128], "dtype": "float32", "layout": "NCHW", "color": "RGB",
        "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1 / 255}}


def _stereo_set(scenes: int, aspect: float | None) -> DistillSet:
    """The stereo task's distillation set of `scenes` procedural scenes (seed 1) rendered at `aspect`, with ground
    truth, as stereo distillation builds it."""
    samples, _ = training_samples(StereoDistillConfig(scenes=scenes, seed=1, scene_aspect=aspect), 64, 128)
    task = get_task("stereo")
    return build_distill_set(create_teacher("sgbm"), SPEC, samples, progress=False, with_gt=True, views=task.views,
                             target=task.target)


def test_distill_set_pairs_views_and_ground_truth():
    data = _stereo_set(2, None)
    lefts, rights = data.views["left"], data.views["right"]
    assert len(data) == 2 and lefts.shape == rights.shape == (2, 3, 64, 128)
    assert data.targets.shape == data.masks.shape == data.gt.shape == data.gt_masks.shape == (2, 64, 128)
    assert not np.array_equal(lefts, rights)
    both = data.masks & data.gt_masks
    assert np.median(np.abs(data.targets[both] - data.gt[both])) < 0.5


def test_scenes_render_at_the_photo_aspect_and_are_squeezed_to_the_input():
    from edgedepth.distill.dataset import ground_truth

    data = _stereo_set(1, 0.75)
    assert data.views["left"].shape == (1, 3, 64, 128) and StereoDistillConfig().scene_aspect == 2 / 3
    tall = get_dataset("procedural", n=1, seed=1, height=192, width=256)[0]  # 0.75 × 128, at twice the input
    gt, valid = ground_truth(tall, 64, 128)  # squeezed 96 → 64 rows; disparity halves with the width only
    assert np.array_equal(data.gt_masks[0], valid) and np.allclose(data.gt[0], gt)
    assert 0.4 * tall.disparity[tall.valid].max() < data.gt[0].max() < 0.6 * tall.disparity[tall.valid].max()


def test_pair_augmentation_is_photometric_and_shared():
    rng = np.random.default_rng(0)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    raw = rng.uniform(0.2, 0.8, size=(3, 3, 8, 12)).astype(np.float32)
    norm = (raw - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
    left, right = augment_pair(norm, norm.copy(), mean, std, rng, Augment(flip=0.0, noise=0.0))
    assert np.allclose(left, right)  # the same gain and offset for both views of a pair
    assert not np.allclose(left, norm)
    noisy_left, noisy_right = augment_pair(norm, norm.copy(), mean, std, rng, Augment(flip=0.0))
    assert not np.allclose(noisy_left, noisy_right)  # sensor noise is per camera
    with pytest.raises(ValueError, match="flip"):
        augment_pair(norm, norm, mean, std, rng, Augment(flip=0.5))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("stereo-distill") / "stereo.safetensors"
    return train(CONFIG, path, progress=False)


def test_tiny_run_writes_a_reloadable_stereo_checkpoint(trained):
    model, info = load_student(trained)
    assert info.task == "stereo" and info.output_kind == "disparity"
    assert info.config["name"] == "stereo_small" and info.config["max_disparity"] == 32
    assert info.input_size == (64, 128) and info.teacher["name"] == "sgbm"
    log = info.training["log"]
    assert log["steps"] == 5
    for key in ("fixed_set_loss_before", "fixed_set_loss_after", "loss_first_10pct", "loss_last_10pct"):
        assert math.isfinite(log[key]) and log[key] > 0, log
    assert 0.3 < info.training["data"]["valid_fraction"] <= 1.0
    assert info.training["config"]["augment"]["flip"] == 0.0
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 128), torch.zeros(1, 3, 64, 128))
    assert out.shape == (1, 64, 128) and torch.isfinite(out).all()


def test_refuses_flip_and_mono_students(tmp_path):
    with pytest.raises(ValueError, match="flip"):
        train(StereoDistillConfig(augment=Augment()), tmp_path / "a.safetensors", progress=False)
    with pytest.raises(ValueError, match="not a stereo student"):
        train(StereoDistillConfig(model="midas_small_lite0"), tmp_path / "b.safetensors", progress=False)
