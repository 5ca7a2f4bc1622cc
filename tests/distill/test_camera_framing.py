"""The camera effects and random framing of training augmentation: framing resamples exactly as bilinear
interpolation does and keeps masks honest, each camera effect does what it says, and runs that ask for neither
draw exactly the random numbers they drew before."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgedepth.distill.augment import Augment, augment_batch, augment_pair
from edgedepth.distill.camera import after_sensor, camera_draws, through_lens
from edgedepth.distill.config import DistillConfig, StereoDistillConfig
from edgedepth.distill.framing import framing_draws, reframed, reframed_mask
from edgedepth.settings import TRAIN
from runtime.validate import Invalid

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def _images(n=2, h=16, w=24, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 3, h, w)).astype(np.float32)


def test_whole_window_is_the_image_itself():
    batch = _images()
    assert np.allclose(reframed(batch, np.array([[0, 0, 1, 1]] * 2, float)), batch, atol=1e-6)


def test_quarter_window_is_bilinear_upsampling_of_the_crop():
    batch = _images(h=16, w=24)
    out = reframed(batch, np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]))
    crops = [batch[:1, :, :8, :12], batch[1:, :, 8:, 12:]]
    for i, crop in enumerate(crops):
        want = F.interpolate(torch.from_numpy(crop), size=(16, 24), mode="bilinear", align_corners=False)
        # inside the border: at the window's edge framing reads the image beyond it where torch clamps to the crop
        assert np.allclose(out[i][:, 1:-1, 1:-1], want[0].numpy()[:, 1:-1, 1:-1], atol=1e-5)


def test_masks_stay_valid_only_where_every_blended_pixel_is():
    targets = np.ones((1, 16, 24), np.float32)
    masks = np.ones((1, 16, 24), bool)
    targets[0, 8, 12], masks[0, 8, 12] = np.nan, False
    window = np.array([[0.25, 0.25, 0.5, 0.5]])
    out, out_mask = reframed(targets, window), reframed_mask(masks, window)
    assert out_mask.dtype == bool and np.isfinite(out).all()
    assert np.allclose(out[out_mask], 1.0)  # no undefined value leaked into a valid pixel (2× zoom: 4×4 lost)
    assert 0 < (~out_mask).sum() <= 16 and out_mask.sum() > 0.9 * out_mask.size


def test_framing_draws_windows_inside_the_image():
    windows = framing_draws(np.random.default_rng(0), 500, zoom=0.5, aspect=0.2)
    top, left, height, width = windows.T
    assert (top >= 0).all() and (left >= 0).all() and (top + height <= 1 + 1e-9).all()
    assert (left + width <= 1 + 1e-9).all() and (height >= 1 / 1.5 * np.exp(-0.1) - 1e-9).all()
    assert windows[:, 2].std() > 0.05 and not np.allclose(windows[:, 2], windows[:, 3])


def test_runs_without_camera_or_framing_draw_what_they_drew_before():
    rng = np.random.default_rng(3)
    assert camera_draws(rng, 4, 0, 0, 0, 0, 0) is None and framing_draws(rng, 4, 0, 0) is None
    assert rng.random() == np.random.default_rng(3).random()


def test_each_camera_effect():
    raw = np.full((1, 3, 32, 48), 0.5, np.float32)
    lens = camera_draws(np.random.default_rng(0), 1, vignette=0.5, blur=0, color=0, gamma=0, jpeg=0)
    dark = through_lens(raw.copy(), lens)
    assert dark[0, :, 0, 0].max() < dark[0, :, 16, 24].min() <= 0.5
    edges = np.zeros((1, 3, 32, 48), np.float32)
    edges[..., ::2] = 1
    blurred = through_lens(edges.copy(), camera_draws(np.random.default_rng(0), 1, 0, blur=1.0, color=0, gamma=0,
                                                      jpeg=0))
    assert np.abs(np.diff(blurred, axis=-1)).mean() < 0.5 * np.abs(np.diff(edges, axis=-1)).mean()
    tone = camera_draws(np.random.default_rng(1), 1, 0, 0, color=0.2, gamma=0.3, jpeg=0)
    toned = after_sensor(raw.copy(), tone)
    want = np.clip(0.5 * tone.white_balance[0], 0, 1) ** tone.gamma[0]
    assert np.allclose(toned[0, :, 5, 5], want, atol=1e-6)
    photo = _images(1, 32, 48)
    squeezed = after_sensor(photo.copy(), camera_draws(np.random.default_rng(0), 1, 0, 0, 0, 0, jpeg=1.0))
    error = np.sqrt(np.mean((squeezed - photo) ** 2))
    assert 0 < error < 0.3  # noise images compress badly even at high quality, but stay the same picture


def test_augment_batch_frames_images_and_targets_together():
    images = np.zeros((4, 3, 16, 24), np.float32)
    targets = np.tile(np.arange(24, dtype=np.float32), (4, 16, 1))  # a left-to-right ramp
    images[:] = ((targets[:, None] / 23) - MEAN.reshape(1, 3, 1, 1)) / STD.reshape(1, 3, 1, 1)
    masks = np.ones((4, 16, 24), bool)
    config = Augment(flip=0.0, gain=0.0, bias=0.0, noise=0.0, zoom=0.5)
    out, out_targets, out_masks = augment_batch(images, targets, masks, MEAN, STD, np.random.default_rng(0), config)
    raw = out * STD.reshape(1, 3, 1, 1) + MEAN.reshape(1, 3, 1, 1)
    assert np.allclose(raw[:, 0] * 23, out_targets, atol=1e-4)  # the image still shows its target
    assert not np.allclose(out_targets, targets) and out_masks.all()


def test_pairs_share_one_camera_and_take_no_framing():
    lefts = rights = np.zeros((2, 3, 8, 16), np.float32)
    config = Augment(flip=0.0, noise=0.0, color=0.3, gamma=0.3)
    out_l, out_r = augment_pair(lefts, rights, MEAN, STD, np.random.default_rng(0), config)
    assert np.allclose(out_l, out_r) and not np.allclose(out_l, lefts)
    with pytest.raises(ValueError, match="framing"):
        augment_pair(lefts, rights, MEAN, STD, np.random.default_rng(0), Augment(flip=0.0, zoom=0.2))


def test_recipes_name_augmentation_fields_and_keep_each_tasks_default():
    assert DistillConfig(augment={"zoom": 0.3}).augment == Augment(zoom=0.3)
    assert StereoDistillConfig(augment={"blur": 0.2}).augment == Augment(flip=0.0, blur=0.2)
    TRAIN.check({"augment": {"jpeg": 0.5, "zoom": 0.4}}, "recipe r: train.mono")
    with pytest.raises(Invalid, match="no augmentation named sharpen"):
        TRAIN.check({"augment": {"sharpen": 1}}, "recipe r: train.mono")
    with pytest.raises(Invalid, match="probability"):
        TRAIN.check({"augment": {"blur": 1.5}}, "recipe r: train.mono")
