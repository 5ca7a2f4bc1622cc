"""Stereo student: the correlation volume's convention and edges, soft-argmin's scale, the model's I/O contract."""

import pytest
import torch

from edgedepth.models import ModelConfigError, StereoSmall, create_model
from edgedepth.models.cost_volume import CorrelationVolume, correlation_volume, disparity_values, soft_argmin

BINS = 8


def _shifted_pair(d: int, channels: int = 32, height: int = 6, width: int = 24, seed: int = 0):
    """Random right features and left features with left(y, x) = right(y, x − d) for x ≥ d (fresh noise for x < d)."""
    g = torch.Generator().manual_seed(seed)
    right = torch.randn(1, channels, height, width, generator=g)
    left = torch.randn(1, channels, height, width, generator=g)
    left[..., d:] = right[..., : width - d]
    return left, right


@pytest.mark.parametrize("d", [0, 3, 7])
def test_correlation_peaks_at_the_true_shift(d):
    left, right = _shifted_pair(d)
    volume = correlation_volume(left, right, BINS)
    assert volume.shape == (1, BINS, 6, 24)
    assert torch.equal(volume.argmax(dim=1)[..., d:], torch.full((1, 6, 24 - d), d))
    # At the true shift the volume is exactly the mean of squares there.
    assert torch.allclose(volume[:, d, :, d:], (right[..., : 24 - d] ** 2).mean(dim=1), atol=1e-6)


def test_correlation_is_zero_where_the_match_leaves_the_image():
    left, right = _shifted_pair(5)
    volume = correlation_volume(left, right, BINS)
    for d in range(BINS):
        assert torch.all(volume[:, d, :, :d] == 0), d  # x − d < 0: no right pixel, the padding reads 0
        if d:
            assert torch.all(volume[:, d, :, d:] != 0), d


def test_a_shift_the_other_way_does_not_peak_at_plus_d():
    """left(y, x) = right(y, x + d) is a negative disparity: the volume must not read it as +d."""
    g = torch.Generator().manual_seed(1)
    right = torch.randn(1, 32, 6, 24, generator=g)
    left = torch.randn(1, 32, 6, 24, generator=g)
    d = 4
    left[..., : 24 - d] = right[..., d:]
    volume = correlation_volume(left, right, BINS)[..., d : 24 - d]
    assert float((volume.argmax(dim=1) == d).float().mean()) < 0.5
    assert abs(float(volume[:, d].mean())) < 0.2 * float((right**2).mean())  # uncorrelated, not a match


def test_correlation_module_matches_the_reference():
    left, right = _shifted_pair(2, channels=16)
    module = CorrelationVolume(16, BINS)
    assert torch.allclose(module(left, right), correlation_volume(left, right, BINS), atol=1e-6)
    with pytest.raises(ValueError):
        module(left[:, :8], right[:, :8])


@pytest.mark.parametrize("d", [1, 6])
def test_soft_argmin_of_a_sharpened_volume_recovers_the_shift(d):
    left, right = _shifted_pair(d)
    volume = correlation_volume(left, right, BINS)
    disparity = soft_argmin(50.0 * volume, disparity_values(BINS, 4))
    assert disparity.shape == (1, 1, 6, 24)
    assert torch.allclose(disparity[..., d:], torch.full_like(disparity[..., d:], 4.0 * d), atol=1e-3)


@pytest.mark.parametrize("k", [0, 3, 7])
def test_soft_argmin_scale_and_sign(k):
    """A volume peaked at bin k gives k × step pixels; a two-bin tie gives the midpoint (sub-bin output)."""
    logits = torch.zeros(2, BINS, 3, 5)
    logits[:, k] = 40.0
    values = disparity_values(BINS, 4)
    assert torch.allclose(soft_argmin(logits, values), torch.full((2, 1, 3, 5), 4.0 * k), atol=1e-4)
    if k < BINS - 1:
        logits[:, k + 1] = 40.0
        assert torch.allclose(soft_argmin(logits, values), torch.full((2, 1, 3, 5), 4.0 * k + 2.0), atol=1e-4)
    with pytest.raises(ValueError):
        soft_argmin(logits, disparity_values(BINS + 1, 4))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("stereo_small", max_disparity=32).eval()


def test_create_model_records_the_config_and_the_class_contract(model):
    assert isinstance(model, StereoSmall)
    assert model.config == {"name": "stereo_small", "encoder": "efficientnet_lite0", "max_disparity": 32,
                            "features": 32, "context": 16, "aggregation": 32, "refine": 16}
    assert model.output_kind == "disparity" and model.max_disparity == 32 and model.stride == 32
    assert model.bins == 32 // model.volume_stride
    assert len(model.input_mean) == len(model.input_std) == 3
    rebuilt = create_model(**model.config)
    assert rebuilt.state_dict().keys() == model.state_dict().keys()
    params = sum(p.numel() for p in model.parameters())
    print(f"stereo_small parameters: {params:,}")
    assert 0.5e6 < params < 1.5e6
    with pytest.raises(ModelConfigError):
        create_model("stereo_small", max_disparity=32, depth=3)


def test_output_is_nonnegative_float32_disparity_at_input_resolution(model):
    g = torch.Generator().manual_seed(2)
    left, right = torch.randn(2, 3, 64, 128, generator=g), torch.randn(2, 3, 64, 128, generator=g)
    with torch.no_grad():
        out = model(left, right)
    assert out.shape == (2, 64, 128) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and (out >= 0).all()
    assert float(out.max()) < 2 * model.max_disparity


def test_refuses_sizes_it_cannot_take(model):
    x = torch.zeros(1, 3, 64, 100)
    with pytest.raises(ValueError, match="multiples of 32") as err:
        model(x, x)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="differ"):
        model(torch.zeros(1, 3, 64, 128), torch.zeros(1, 3, 64, 96))
    for bad in (30, 4, 0):
        with pytest.raises(ValueError, match="max_disparity"):
            StereoSmall(max_disparity=bad)


def test_gradients_reach_both_views_and_every_stage():
    torch.manual_seed(0)
    net = create_model("stereo_small", max_disparity=16, features=8, context=4, aggregation=8, refine=4).train()
    left = torch.randn(2, 3, 64, 64, requires_grad=True)
    right = torch.randn(2, 3, 64, 64, requires_grad=True)
    net(left, right).mean().backward()
    assert left.grad.abs().sum() > 0 and right.grad.abs().sum() > 0
    for name in ("encoder.layer3", "features.match", "aggregate.head", "refine_full.body"):
        grads = [p.grad for n, p in net.named_parameters() if n.startswith(name)]
        assert grads and all(g is not None for g in grads), name
