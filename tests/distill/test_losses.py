"""Losses: exact alignment, invariances and hand-computed values."""

import math

import pytest
import torch

from edgedepth.distill.losses import gradient_matching_loss, median_mad, normalize_median_mad, silog_loss, ssi_loss


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
    # level 0: |gx| = 1 on 2 rows, |gy| = 0 → 2 / 4 pixels; level 1 (one 2×2 block): nothing → total 0.5
    assert math.isclose(float(gradient_matching_loss(residual, mask, levels=(0, 1))), 0.5, rel_tol=1e-6)


def test_gradient_term_averages_blocks_so_pixel_noise_costs_little():
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 64).repeat(64, 1)[None]
    noise = 0.2 * torch.randn(1, 64, 64, generator=g)
    mask = torch.ones_like(ramp, dtype=torch.bool)
    # 16×16 blocks of 4×4: the ramp steps 4/63 between the 15 neighbours of each row; noise σ drops to 0.05
    coarse_noise, coarse_ramp = (float(gradient_matching_loss(r, mask, levels=(2,))) for r in (noise, ramp))
    fine_noise = float(gradient_matching_loss(noise, mask, levels=(0,)))
    assert fine_noise > 3.5 * coarse_noise and math.isclose(coarse_ramp, 4 / 63 * 15 / 16, rel_tol=1e-4)
    half = mask.clone()
    half[:, :, :32] = False  # blocks wholly masked do not count; the right half's blocks all do
    assert math.isclose(float(gradient_matching_loss(ramp, half, levels=(2,))), 4 / 63 * 7 / 8, rel_tol=1e-4)


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
    from edgedepth.distill.losses import median_mad

    _, mad = median_mad(big, mask)
    expected = base + 0.1 * float(torch.log(mad).pow(2).mean())
    assert math.isclose(float(ssi_loss(big, target, mask, scale_anchor=0.1)), expected, rel_tol=1e-4)
    assert math.isclose(float(ssi_loss(big, target, mask)), base, abs_tol=1e-5)


def _reference_median_mad(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image loop: torch.median (lower median) over the mask, MAD from it; an empty mask counts as [0]."""
    medians, mads = [], []
    for i in range(x.shape[0]):
        values = x[i][mask[i]]
        if values.numel() == 0:
            values = x.new_zeros(1)
        median = values.median()
        medians.append(median)
        mads.append((values - median).abs().mean().clamp_min(1e-6))
    return torch.stack(medians), torch.stack(mads)


def _reference_ssi(pred, target, mask, alpha=0.2, trim=0.2, scale_anchor=0.0):
    """The SSI loss written image by image: sort each image's valid errors, keep round(n · (1 − trim))."""
    pred_median, pred_mad = _reference_median_mad(pred, mask)
    target_median, target_mad = _reference_median_mad(target, mask)
    pred_n = (pred - pred_median[:, None, None]) / pred_mad[:, None, None]
    target_n = (target - target_median[:, None, None]) / target_mad[:, None, None]
    residual = (pred_n - target_n) * mask
    data, images = residual.new_zeros(()), 0
    for i in range(residual.shape[0]):
        errors = residual[i][mask[i]].abs()
        if errors.numel() == 0:
            continue
        keep = max(1, int(round(errors.numel() * (1.0 - trim))))
        data = data + errors.sort().values[:keep].mean()
        images += 1
    total = data / images
    if alpha > 0:
        total = total + alpha * gradient_matching_loss(residual, mask)
    if scale_anchor > 0:
        total = total + scale_anchor * torch.log(pred_mad).pow(2).mean()
    return total


def _ragged_batch(seed: int):
    """Five maps whose masks keep different fractions (one keeps nothing, one a single pixel, one an even count)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(5, 12, 17, generator=g) + 0.5
    pred = torch.randn(5, 12, 17, generator=g)
    keep = torch.tensor([0.9, 0.0, 0.5, 0.5, 1.0])
    mask = torch.rand(5, 12, 17, generator=g) < keep[:, None, None]
    mask[3] = False
    mask[3, 4, 5] = True  # a single valid pixel
    mask[2] = (torch.arange(12 * 17) % 3 == 0).view(12, 17)  # 68 pixels: an even count, the lower median matters
    return pred, target, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_median_mad_matches_per_image_loop(seed):
    pred, _, mask = _ragged_batch(seed)
    assert int(mask[1].sum()) == 0 and int(mask[2].sum()) % 2 == 0
    a = pred.clone().requires_grad_(True)
    b = pred.clone().requires_grad_(True)
    median, mad = median_mad(a, mask)
    ref_median, ref_mad = _reference_median_mad(b, mask)
    assert torch.allclose(median, ref_median, atol=1e-6) and torch.allclose(mad, ref_mad, atol=1e-6)
    (median * torch.arange(1.0, 6.0) + mad.log()).sum().backward()
    (ref_median * torch.arange(1.0, 6.0) + ref_mad.log()).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-5)


@pytest.mark.parametrize(("seed", "trim", "anchor"), [(0, 0.2, 0.0), (1, 0.2, 0.01), (2, 0.0, 0.0), (3, 0.25, 0.1)])
def test_batched_ssi_matches_per_image_loop_in_value_and_gradient(seed, trim, anchor):
    pred, target, mask = _ragged_batch(seed)
    a = pred.clone().requires_grad_(True)
    b = pred.clone().requires_grad_(True)
    loss = ssi_loss(a, target, mask, trim=trim, scale_anchor=anchor)
    ref = _reference_ssi(b, target, mask, trim=trim, scale_anchor=anchor)
    assert math.isclose(float(loss.detach()), float(ref.detach()), rel_tol=1e-5, abs_tol=1e-5)
    loss.backward()
    ref.backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-5), float((a.grad - b.grad).abs().max())
