"""The optimisation loop every distillation shares: AdamW, linear warm-up then cosine decay, a progress bar,
and a small log of the loss.

On CPUs with native bf16 arithmetic (AVX512-BF16 or AMX) the forward pass runs under bf16 autocast while the
weights, the optimizer state and the loss stay float32 (mixed precision): convolutions run about 1.5× faster.
Grouped (depthwise) convolutions compute in float32 even then (their bf16 backward is several times slower
than their float32 one in oneDNN, and would eat the whole gain) but hand bf16 on, so the BatchNorm and ReLU6
after them stay in bf16 too. BatchNorm over fewer than 16 channels runs on an NCHW copy of its input: the
channels_last kernel's backward is ~3× slower there (11 ms vs 4 ms for 4×8×128×256, which the stereo
student's last refinement has).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from edgedepth.distill.config import MIXED_PRECISION_CHOICES

# /proc/cpuinfo flags of x86 CPUs with bf16 dot products in hardware (oneDNN's fast bf16 paths).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class LoopConfig(Protocol):
    """What the loop reads from a distillation config (plus `mixed_precision`, "auto" when absent)."""

    lr: float
    weight_decay: float
    warmup_steps: int
    steps: int
    seed: int


def lr_at(step: int, config: LoopConfig) -> float:
    """Learning rate at `step` (0-based): linear warm-up over `warmup_steps`, then cosine decay to 5 % of `lr`."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware: /proc/cpuinfo's flags on Linux, else torch's own probes."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}
    if flags:
        return any(flag in flags for flag in NATIVE_BF16_FLAGS)
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(probe()) for probe in probes if probe is not None)


def resolve_precision(choice: str) -> str:
    """"bf16" or "fp32" for a config's `mixed_precision`: "auto" takes bf16 only where the CPU has it natively
    (emulated bf16 is slower than fp32), "bf16" forces it, "off" never uses it."""
    if choice not in MIXED_PRECISION_CHOICES:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION_CHOICES}, got {choice!r}")
    if choice == "off":
        return "fp32"
    if choice == "bf16":
        return "bf16"
    return "bf16" if native_bf16() else "fp32"


@contextmanager
def _replaced_forward(module: torch.nn.Module, forward: Callable[..., Any]) -> Iterator[None]:
    """Give `module` its own `forward` for the block, then put back whatever it had."""
    had_own = "forward" in module.__dict__
    previous = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if had_own:
            module.forward = previous
        else:
            del module.forward


def _as_float(output: Any) -> Any:
    """Floating tensors (alone, or in a tuple/list/dict) cast to float32, so the loss is computed in fp32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, (tuple, list)):
        return type(output)(_as_float(o) for o in output)
    if isinstance(output, dict):
        return {k: _as_float(v) for k, v in output.items()}
    return output


@contextmanager
def mixed_precision(model: torch.nn.Module, precision: str) -> Iterator[None]:
    """For precision "bf16": the model's forward in training mode runs under CPU bf16 autocast and returns
    float32, with grouped convolutions computed in float32; the weights stay float32. Eval-mode forwards (a
    monitor's held-out evaluation between steps) stay float32 throughout. For "fp32": nothing changes."""
    if precision == "fp32":
        yield
        return
    if precision != "bf16":
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {precision!r}")
    with ExitStack() as stack:
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.groups > 1:
                stack.enter_context(_replaced_forward(module, _float32_forward(module.forward)))
        stack.enter_context(_replaced_forward(model, _autocast_forward(model, model.forward)))
        yield


def _float32_forward(forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """`forward` computed in float32 with autocast off, its output in its input's dtype."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return forward(x.float()).to(x.dtype)

    return run


NARROW_BATCHNORM = 16  # channels below which channels_last BatchNorm is slow (less than one AVX-512 vector)


@contextmanager
def narrow_batchnorm_nchw(model: torch.nn.Module) -> Iterator[None]:
    """For the block: each BatchNorm2d with fewer than NARROW_BATCHNORM channels normalises an NCHW copy of its
    input and returns channels_last (the same numbers, faster while the model trains in channels_last)."""
    with ExitStack() as stack:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d) and module.num_features < NARROW_BATCHNORM:
                stack.enter_context(_replaced_forward(module, _nchw_forward(module.forward)))
        yield


def _nchw_forward(forward: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """`forward` on a contiguous (NCHW) copy of a 4-D input, its output back in channels_last."""

    def run(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last):
            return forward(x)
        return forward(x.contiguous()).contiguous(memory_format=torch.channels_last)

    return run


def _autocast_forward(model: torch.nn.Module, forward: Callable[..., Any]) -> Callable[..., Any]:
    """`forward` under CPU bf16 autocast while `model` is training, its outputs cast back to float32."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=model.training):
            output = forward(*args, **kwargs)
        return _as_float(output)

    return run


def make_optimizer(model: torch.nn.Module, config: LoopConfig) -> torch.optim.Optimizer:
    """AdamW over the model's parameters; the fused kernel (one pass over all tensors, ~4× faster on CPU than the
    per-tensor loop) where this torch has it."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


Monitor = Callable[[torch.nn.Module, int, float, bool], None]


@torch.no_grad()
def fixed_set_loss(model: torch.nn.Module, loss_on: Callable[[np.ndarray], torch.Tensor], size: int,
                   count: int = 16) -> float:
    """The un-augmented training loss `loss_on(index)` on the first `count` of `size` samples, the model in eval
    mode: a noise-free progress measure, the same for every task."""
    was_training = model.training
    model.eval()
    try:
        return float(loss_on(np.arange(min(count, size))))
    finally:
        model.train(was_training)


def optimise(model: torch.nn.Module, batch_loss: Callable[[np.random.Generator], torch.Tensor], config: LoopConfig,
             desc: str = "distill", progress: bool = True, monitor: Monitor | None = None) -> dict:
    """Run `config.steps` AdamW steps on `batch_loss(rng)` (one random batch's loss; the rng is seeded from
    `config.seed`), the model in channels_last and, where `config.mixed_precision` resolves to bf16, its forward
    in bf16 meanwhile; returns steps, seconds, the precision used and the first/last 10 % loss.

    `monitor(model, step, training_seconds, last)` is called after every step (1-based); the time it spends is
    left out of `training_seconds` and reported apart as `monitor_seconds`."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    precision = resolve_precision(getattr(config, "mixed_precision", "auto"))
    # channels_last runs the depthwise/pointwise convolutions of EfficientNet-Lite ~1.5× faster on CPU.
    model.to(memory_format=torch.channels_last).train()
    optimizer = make_optimizer(model, config)
    losses: list[float] = []
    monitor_seconds = 0.0
    start = time.perf_counter()
    bar = tqdm(range(config.steps), desc=desc, disable=not progress, unit="step")
    with mixed_precision(model, precision), narrow_batchnorm_nchw(model):
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config)
            loss = batch_loss(rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if monitor is not None:
                paused = time.perf_counter()
                monitor(model, step + 1, paused - start - monitor_seconds, step == config.steps - 1)
                monitor_seconds += time.perf_counter() - paused
            if step % 20 == 0 or step == config.steps - 1:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    seconds = round(time.perf_counter() - start, 2)
    model.to(memory_format=torch.contiguous_format).eval()
    tenth = max(1, len(losses) // 10)
    timing = {"monitor_seconds": round(monitor_seconds, 2)} if monitor is not None else {}
    return {"steps": config.steps, "seconds": seconds, **timing, "precision": precision,
            "loss_first_10pct": float(np.mean(losses[:tenth])), "loss_last_10pct": float(np.mean(losses[-tenth:]))}
