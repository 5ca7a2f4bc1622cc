"""The shared optimisation loop: precision choice, the bf16 forward with float32 weights and loss, determinism,
the fused optimizer, and augmentation that draws and computes exactly what the plain expression does."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from edgedepth.distill.augment import Augment, augment_batch
from edgedepth.distill.loop import (
    make_optimizer,
    mixed_precision,
    narrow_batchnorm_nchw,
    native_bf16,
    optimise,
    resolve_precision,
)


@dataclass
class LoopSettings:
    lr: float = 1e-2
    weight_decay: float = 1e-4
    warmup_steps: int = 2
    steps: int = 12
    seed: int = 0
    mixed_precision: str = "auto"


class TinyNet(nn.Module):
    """Dense conv, depthwise conv, BN, ReLU, 1×1 head: the layer kinds the students are made of."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.depthwise(self.dense(x)))))[:, 0]


def _regression(precision: str, steps: int = 12) -> tuple[dict, TinyNet]:
    """Train TinyNet for `steps` on a fixed random regression; returns the loop's log and the model."""
    torch.manual_seed(0)
    model = TinyNet()
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 3, 12, 16, generator=g)
    targets = inputs[:, 0] - 0.5 * inputs[:, 1]  # learnable by the net: a pixelwise mix of channels

    def batch_loss(rng: np.random.Generator) -> torch.Tensor:
        index = torch.from_numpy(rng.integers(0, 16, size=4))
        return (model(inputs[index].contiguous(memory_format=torch.channels_last)) - targets[index]).abs().mean()

    log = optimise(model, batch_loss, LoopSettings(steps=steps, mixed_precision=precision), progress=False)
    return log, model


def test_precision_choice():
    assert resolve_precision("off") == "fp32"
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    with pytest.raises(ValueError, match="mixed_precision"):
        resolve_precision("fp16")


def test_bf16_forward_computes_depthwise_in_float32_returns_float32_and_restores_the_model():
    torch.manual_seed(0)
    model = TinyNet()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        train_reference = model(x)  # batch statistics: the same whatever the running ones are
        eval_reference = model.eval()(x)
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, (inp[0], out)))
             for name, m in (("dense", model.dense), ("depthwise", model.depthwise))]
    with mixed_precision(model, "bf16"):
        assert torch.equal(model(x), eval_reference)  # eval-mode forwards (monitors) stay float32
        assert {name: out.dtype for name, (_, out) in seen.items()} == {"dense": torch.float32,
                                                                         "depthwise": torch.float32}
        out = model.train()(x)
    assert out.dtype == torch.float32 and torch.allclose(out, train_reference, atol=0.05, rtol=0.05)
    assert seen["dense"][1].dtype == torch.bfloat16
    inp, dw_out = seen["depthwise"]
    assert inp.dtype == dw_out.dtype == torch.bfloat16
    in_float32 = nn.functional.conv2d(inp.float(), model.depthwise.weight, padding=1, groups=8)
    assert torch.equal(dw_out, in_float32.to(torch.bfloat16))  # float32 weights and arithmetic, bf16 hand-over
    for m in model.modules():
        assert "forward" not in m.__dict__  # the model's own forward again
    seen.clear()
    assert torch.equal(model(x), train_reference) and seen["dense"][1].dtype == torch.float32
    for hook in hooks:
        hook.remove()
    with mixed_precision(model, "fp32"):
        assert torch.equal(model(x), train_reference)


def test_narrow_batchnorm_runs_nchw_with_the_same_numbers():
    torch.manual_seed(0)
    model = TinyNet().to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    out = model(x)
    out.square().mean().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with narrow_batchnorm_nchw(model):
        assert "forward" in model.bn.__dict__
        again = model(x)
        again.square().mean().backward()
    assert "forward" not in model.bn.__dict__
    assert torch.allclose(again, out, atol=1e-6)
    for a, b in zip(grads, (p.grad for p in model.parameters()), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("precision", ["off", "bf16"])
def test_loop_is_deterministic_logs_its_precision_and_keeps_float32_weights(precision):
    log_a, a = _regression(precision)
    log_b, b = _regression(precision)
    assert log_a["precision"] == ("fp32" if precision == "off" else "bf16")
    assert log_a["loss_last_10pct"] == log_b["loss_last_10pct"]
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
        assert not p.is_floating_point() or p.dtype == torch.float32, name


def test_bf16_training_tracks_fp32():
    log_fp32, _ = _regression("off", steps=40)
    log_bf16, _ = _regression("bf16", steps=40)
    assert log_fp32["loss_last_10pct"] < 0.5 * log_fp32["loss_first_10pct"]
    assert log_bf16["loss_last_10pct"] == pytest.approx(log_fp32["loss_last_10pct"], rel=0.05)


def test_fused_optimizer_takes_the_plain_adamw_steps():
    torch.manual_seed(0)
    fused_model = TinyNet()
    plain_model = TinyNet()
    plain_model.load_state_dict(fused_model.state_dict())
    settings = LoopSettings()
    fused = make_optimizer(fused_model, settings)
    plain = torch.optim.AdamW(plain_model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    for _ in range(5):
        for model, optimizer in ((fused_model, fused), (plain_model, plain)):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
    for p, q in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def _plain_augment(images, targets, masks, mean, std, rng, config):
    """augment_batch written as one expression per step (the definition the in-place version must equal)."""
    images, targets, masks = images.copy(), targets.copy(), masks.copy()
    n = images.shape[0]
    flip = rng.random(n) < config.flip
    images[flip] = images[flip][..., ::-1]
    targets[flip] = targets[flip][..., ::-1]
    masks[flip] = masks[flip][..., ::-1]
    mean = mean.reshape(1, 3, 1, 1).astype(np.float32)
    std = std.reshape(1, 3, 1, 1).astype(np.float32)
    raw = images * std + mean
    gain = rng.uniform(1 - config.gain, 1 + config.gain, size=(n, 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-config.bias, config.bias, size=(n, 1, 1, 1)).astype(np.float32)
    sigma = rng.uniform(0.0, config.noise / 255.0, size=(n, 1, 1, 1)).astype(np.float32)
    raw = raw * gain + bias + sigma * rng.standard_normal(raw.shape, dtype=np.float32)
    return (np.clip(raw, 0.0, 1.0) - mean) / std, targets, masks


@pytest.mark.parametrize("flip", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("target_shape", [(6, 10, 14), (6, 2, 10, 14)])
def test_augmentation_equals_the_plain_expression_bit_for_bit(flip, target_shape):
    g = np.random.default_rng(3)
    images = g.standard_normal((6, 3, 10, 14)).astype(np.float32)
    targets = g.random(target_shape).astype(np.float32)
    masks = g.random(target_shape) > 0.3
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    before = images.copy(), targets.copy(), masks.copy()
    config = Augment(flip=flip)
    ours = augment_batch(images, targets, masks, mean, std, np.random.default_rng(7), config)
    plain = _plain_augment(images, targets, masks, mean, std, np.random.default_rng(7), config)
    for a, b in zip(ours, plain, strict=True):
        assert a.dtype == b.dtype and a.flags.c_contiguous and np.array_equal(a, b)
    for a, b in zip((images, targets, masks), before, strict=True):
        assert np.array_equal(a, b)  # the inputs are left alone
