"""Losses: exact alignment, invariances and hand-computed values."""

import math

import pytest
import torch

from edgedepth.losses import gradient_matching_loss, normalize_median_mad, silog_loss, ssi_loss


def _maps(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 16, 20, generator=g) + 0.5
    mask = torch.rand(2, 16, 20, generator=g) > 0.2
    return target, mask


def test_median_mad_normalisation_hand_computed():
    x = torch.tensor([[[1.0, 2.0, 3.0, 10.0]]])
    # lower median 2, |x − 2| = [1, 0, 1, 8] → mean 2.5
    out = normalize_median_mad(x, torch.ones_like(x, dtype=torch.bool))
    assert torch.allclose(out, torch.tensor([[[-0.4, 0.0, 0.4, 3.2]]]), atol=1e-6)


def test_ssi_is_zero_for_positive_affine_prediction():
    target, mask = _maps()
    assert float(ssi_loss(3.0 * target - 1.0, target, mask)) < 1e-5  # float32 round-off


def test_ssi_penalises_an_inverted_map():
    """A least-squares alignment would forgive a negative scale; the student must not learn inverted depth."""
    target, mask = _maps()
    assert float(ssi_loss(-target, target, mask, alpha=0.0)) > 1.0


def test_ssi_is_positive_for_noise():
    target, mask = _maps()
    noisy = target + 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))
    assert float(ssi_loss(noisy, target, mask)) > 1e-2


def test_ssi_ignores_masked_pixels():
    target, mask = _maps()
    pred = target.clone()
    pred[~mask] = 1000.0  # garbage where the teacher is invalid
    assert float(ssi_loss(pred, target, mask)) < 1e-5


def test_ssi_is_invariant_to_target_units():
    target, mask = _maps()
    pred = target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    assert math.isclose(float(ssi_loss(pred, target, mask)), float(ssi_loss(pred, 40.0 * target + 3.0, mask)),
                        rel_tol=1e-4)


def test_ssi_data_term_hand_computed():
    pred = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])  # median 1, MAD 1 → [-1, 0, 1, 2]
    target = torch.tensor([[[0.0, 1.0, 2.0, 6.0]]])  # median 1, MAD 7/4 → [-4/7, 0, 4/7, 20/7]
    mask = torch.ones_like(pred, dtype=torch.bool)
    # |residuals| = [3/7, 0, 3/7, 6/7]: mean 3/7; trimming the largest quarter leaves mean 2/7
    assert math.isclose(float(ssi_loss(pred, target, mask, alpha=0.0, trim=0.0)), 3 / 7, rel_tol=1e-5)
    assert math.isclose(float(ssi_loss(pred, target, mask, alpha=0.0, trim=0.25)), 2 / 7, rel_tol=1e-5)


def test_gradient_term_hand_computed():
    residual = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    mask = torch.ones_like(residual, dtype=torch.bool)
    # scale 0: |gx| = 1 on 2 rows, |gy| = 0 → 2 / 4 pixels; scale 1 (1×1): nothing → total 0.5
    assert math.isclose(float(gradient_matching_loss(residual, mask, scales=2)), 0.5, rel_tol=1e-6)


def test_empty_mask_raises():
    target, _ = _maps()
    with pytest.raises(ValueError, match="no pixel"):
        ssi_loss(target, target, torch.zeros_like(target, dtype=torch.bool))


def test_silog_hand_computed_and_scale_behaviour():
    target = torch.tensor([[[1.0, 2.0, 4.0, 8.0]]])
    mask = torch.ones_like(target, dtype=torch.bool)
    assert float(silog_loss(target, target, mask)) < 1e-5
    # pred = 2·target → g = log 2 everywhere: sqrt((1 − λ)·log²2)
    expected = math.sqrt((1 - 0.85) * math.log(2) ** 2)
    assert math.isclose(float(silog_loss(2 * target, target, mask)), expected, rel_tol=1e-5)
    assert float(silog_loss(2 * target, target, mask, variance_focus=1.0)) < 1e-5


def test_ssi_gradients_flow():
    target, mask = _maps()
    pred = torch.rand(target.shape, generator=torch.Generator().manual_seed(3), requires_grad=True)
    ssi_loss(pred, target, mask).backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_scale_anchor_pulls_output_scale_towards_one_only():
    target, mask = _maps()
    base = float(ssi_loss(target, target, mask))
    # same map at 100× scale: identical SSI loss, anchored loss higher by 0.1 · log²(100 · MAD)
    big = 100.0 * target
    from edgedepth.losses import median_mad

    _, mad = median_mad(big, mask)
    expected = base + 0.1 * float(torch.log(mad).pow(2).mean())
    assert math.isclose(float(ssi_loss(big, target, mask, scale_anchor=0.1)), expected, rel_tol=1e-4)
    assert math.isclose(float(ssi_loss(big, target, mask)), base, abs_tol=1e-5)
