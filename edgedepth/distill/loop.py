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
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from edgedepth.distill.config import MIXED_PRECISION_CHOICES
from edgedepth.distill.distributed import (
    World,
    average_buffers,
    part_slice,
    split_batch,
    step_summary,
    wrap,
)
from edgedepth.distill.interrupt import TrainingInterrupted, stop_on_sigint
from edgedepth.distill.resume import TrainingState
from edgedepth.errors import EdgeDepthError
from edgedepth.progress import progress_bar

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


def resolve_precision(choice: str, device_type: str = "cpu") -> str:
    """"bf16" or "fp32" for a config's `mixed_precision`: "auto" takes bf16 only where the CPU has it natively
    (emulated bf16 is slower than fp32; on a GPU "auto" stays fp32), "bf16" forces it, "off" never uses it."""
    if choice not in MIXED_PRECISION_CHOICES:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION_CHOICES}, got {choice!r}")
    if choice == "off":
        return "fp32"
    if choice == "bf16":
        return "bf16"
    return "bf16" if device_type == "cpu" and native_bf16() else "fp32"


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
def mixed_precision(model: torch.nn.Module, precision: str, device_type: str = "cpu") -> Iterator[None]:
    """For precision "bf16": the model's forward in training mode runs under bf16 autocast (of `device_type`) and
    returns float32, with grouped convolutions computed in float32; the weights stay float32. Eval-mode forwards (a
    monitor's held-out evaluation between steps) stay float32 throughout. For "fp32": nothing changes."""
    if precision == "fp32":
        yield
        return
    if precision != "bf16":
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {precision!r}")
    with ExitStack() as stack:
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.groups > 1:
                stack.enter_context(_replaced_forward(module, _float32_forward(module.forward, device_type)))
        stack.enter_context(_replaced_forward(model, _autocast_forward(model, model.forward, device_type)))
        yield


def _float32_forward(forward: Callable[..., torch.Tensor], device_type: str = "cpu") -> Callable[..., torch.Tensor]:
    """`forward` computed in float32 with autocast off, its output in its input's dtype."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, enabled=False):
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


def _autocast_forward(model: torch.nn.Module, forward: Callable[..., Any],
                      device_type: str = "cpu") -> Callable[..., Any]:
    """`forward` under bf16 autocast while `model` is training, its outputs cast back to float32."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=model.training):
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


BatchLoss = Callable[..., torch.Tensor]


def optimise(model: torch.nn.Module, batch_loss: BatchLoss, config: LoopConfig, desc: str = "distill",
             progress: bool = True, monitor: Monitor | None = None, state: TrainingState | None = None,
             world: World | None = None) -> dict:
    """Run `config.steps` AdamW steps on `batch_loss(rng)` (one random batch's loss; the rng is seeded from
    `config.seed`), the model in channels_last and, where `config.mixed_precision` resolves to bf16, its forward
    in bf16 meanwhile; returns steps, seconds, the precision used and the first/last 10 % loss.

    With several ranks (`world`) or `config.micro_batches` > 1 the batch is split into equal parts and
    `batch_loss(rng, net=..., part=slice)` gives one part's loss through `net` (the model, or its
    DistributedDataParallel wrapper): every part draws the same whole batch from the same rng state and takes its
    slice, so the data do not depend on the split. Each part's loss counts 1/parts (gradients summed, then
    all-reduced between ranks) and the BatchNorm statistics are averaged over the parts after the step.

    `state` (optional) is written every `state.every` steps and on Ctrl-C (which then raises
    `TrainingInterrupted`), and with `state.resume` the loop starts from it. `monitor(model, step,
    training_seconds, last)` is called after every step (1-based); the time it spends is left out of
    `training_seconds` and reported apart as `monitor_seconds`."""
    world = world or World()
    micro = int(getattr(config, "micro_batches", 1))
    split_batch(int(getattr(config, "batch_size", micro * world.size)), world.size, micro)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device_type = torch.device(world.device).type
    precision = resolve_precision(getattr(config, "mixed_precision", "auto"), device_type)
    # channels_last runs the depthwise/pointwise convolutions of EfficientNet-Lite ~1.5× faster on CPU.
    model.to(device=world.device, memory_format=torch.channels_last).train()
    optimizer = make_optimizer(model, config)
    first, losses, seconds_before = _resumed(state, model, optimizer, rng, monitor)
    net = wrap(model, world)
    clock = _Clock(time.perf_counter() - seconds_before)
    bar = progress_bar(range(first, config.steps), desc=desc, disable=not (progress and world.main), unit="step",
                       initial=first, total=config.steps)
    with mixed_precision(model, precision, device_type), narrow_batchnorm_nchw(model), \
            stop_on_sigint(state is not None) as stop:
        for step in bar:
            value, stopping = _take_step(step, model, net, batch_loss, rng, optimizer, config, micro, world, stop, bar)
            losses.append(value)
            _check_finite(value, step, config, bar)
            if monitor is not None:
                _monitor_step(monitor, model, world, step, config, clock)
            if step % 20 == 0 or step == config.steps - 1:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if state is not None and (stopping or state.due(step + 1, config.steps)):
                saved = _save_state(state, step + 1, model, optimizer, rng, losses, clock.training(), monitor, world)
                if stopping:
                    bar.close()
                    raise TrainingInterrupted(step + 1, config.steps, saved, stop.signum)
    seconds = round(time.perf_counter() - clock.start, 2)
    model.to(device="cpu", memory_format=torch.contiguous_format).eval()
    timing = {"monitor_seconds": round(clock.monitor_seconds, 2)} if monitor is not None else {}
    split = {"ranks": world.size, "micro_batches": micro} if micro * world.size > 1 else {}
    resumed = {"resumed_at_step": first} if first else {}
    return {"steps": config.steps, "seconds": seconds, **timing, **split, **resumed, "precision": precision,
            **_loss_ends(losses)}


@dataclass
class _Clock:
    """The loop's time: wall time since `start`, of which `monitor_seconds` went to the monitor."""

    start: float
    monitor_seconds: float = 0.0

    def training(self) -> float:
        """Seconds of training so far (the monitor's left out)."""
        return time.perf_counter() - self.start - self.monitor_seconds


def _take_step(step: int, model: torch.nn.Module, net: torch.nn.Module, batch_loss: BatchLoss,
               rng: np.random.Generator, optimizer: torch.optim.Optimizer, config: LoopConfig, micro: int,
               world: World, stop: Any, bar: Any) -> tuple[float, bool]:
    """Step `step` (0-based) at its learning rate: (its loss, whether to stop after it). A non-finite gradient
    under a finite loss ends the run in one line, the step not taken; under a non-finite loss the loss is returned
    (`_check_finite` reports it)."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, config)
    try:
        if micro * world.size == 1:
            return _plain_step(batch_loss, rng, optimizer), bool(stop)
        return _split_step(model, net, batch_loss, rng, optimizer, config, micro, world, stop)
    except NonFiniteGradient as bad:
        if math.isfinite(bad.loss):
            bar.close()
            raise EdgeDepthError(f"the training gradient became non-finite at step {step + 1} of "
                                 f"{config.steps} (loss {bad.loss:.4g}); the step was not taken and nothing "
                                 "was written (a lower --lr, or the data, is where to look)") from None
        return bad.loss, False


def _check_finite(value: float, step: int, config: LoopConfig, bar: Any) -> None:
    """End the run in one line when step `step`'s loss is not finite: the weights are no longer usable."""
    if not math.isfinite(value):
        bar.close()
        raise EdgeDepthError(f"the training loss became {value} at step {step + 1} of {config.steps}; "
                             "the weights are no longer usable and nothing was written (a lower --lr, or "
                             "the data, is where to look)")


def _monitor_step(monitor: Monitor, model: torch.nn.Module, world: World, step: int, config: LoopConfig,
                  clock: _Clock) -> None:
    """The monitor after step `step` (0-based), given the training seconds so far; its own time is clocked apart."""
    paused = time.perf_counter()
    _monitored(monitor, model, world.device)(model, step + 1, paused - clock.start - clock.monitor_seconds,
                                             step == config.steps - 1)
    clock.monitor_seconds += time.perf_counter() - paused


def _resumed(state: TrainingState | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             rng: np.random.Generator, monitor: Monitor | None) -> tuple[int, list[float], float]:
    """(first step, losses so far, training seconds so far): from the stored state when resuming (the model,
    optimizer, rng and the monitor's rows are put back), else a fresh start."""
    snapshot = state.load(model, optimizer, rng) if state is not None and state.resume else None
    if snapshot is None:
        return 0, [], 0.0
    if monitor is not None and hasattr(monitor, "rows"):
        monitor.rows[:] = snapshot.extra.get("monitor_rows", [])
    return snapshot.step, snapshot.losses, snapshot.seconds


def _save_state(state: TrainingState, done: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                rng: np.random.Generator, losses: list[float], seconds: float, monitor: Monitor | None,
                world: World) -> Path | None:
    """Write the training state after `done` steps (rank 0 alone; the others return None)."""
    if not world.main:
        return None
    rows = list(getattr(monitor, "rows", [])) if monitor is not None else []
    return state.save(done, model, optimizer, rng, losses, seconds, {"monitor_rows": rows})


def _plain_step(batch_loss: BatchLoss, rng: np.random.Generator, optimizer: torch.optim.Optimizer) -> float:
    """One step of one process on the whole batch; returns its loss."""
    loss = batch_loss(rng)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    value = float(loss.detach())
    _step_if_finite(optimizer, value)
    return value


class NonFiniteGradient(Exception):
    """A step's gradient was not finite (the step is not taken); `loss` is the step's loss, finite or not."""

    def __init__(self, loss: float) -> None:
        super().__init__(f"non-finite gradient (loss {loss})")
        self.loss = loss


def _step_if_finite(optimizer: torch.optim.Optimizer, loss: float) -> None:
    """The optimizer's step, unless a gradient is not finite: such a step would turn the weights to NaN, with
    nothing said until the next loss. Decided on the gradients alone, which every rank shares after their
    all-reduce, so all ranks stop together (this rank's `loss` only names the cause)."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):  # one sync
        raise NonFiniteGradient(loss)
    optimizer.step()


def _loss_ends(losses: list[float]) -> dict[str, float]:
    """The mean loss of the first and of the last 10 % of the steps."""
    tenth = max(1, len(losses) // 10)
    return {"loss_first_10pct": float(np.mean(losses[:tenth])), "loss_last_10pct": float(np.mean(losses[-tenth:]))}


def _split_step(model: torch.nn.Module, net: torch.nn.Module, batch_loss: BatchLoss, rng: np.random.Generator,
                optimizer: torch.optim.Optimizer, config: LoopConfig, micro: int, world: World,
                stop: Any) -> tuple[float, bool]:
    """One step on this rank's `micro` parts of the batch (gradients summed, synchronised with the other ranks on
    the last part's backward), then BatchNorm statistics averaged over all parts and the optimizer step; returns
    the step's mean loss over all parts and whether any rank asked to stop."""
    batch_size = int(config.batch_size)  # type: ignore[attr-defined]  (split runs are distillations)
    parts = micro * world.size
    drawn_from = rng.bit_generator.state
    # Every part starts from the step's BatchNorm statistics (running means and counts), as every rank does.
    buffers = list(model.buffers()) if micro > 1 else []
    before = [b.clone() for b in buffers]
    after: list[list[torch.Tensor]] = []
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for m in range(micro):
        rng.bit_generator.state = drawn_from  # every part sees the same whole batch, and takes its slice
        for buffer, start in zip(buffers, before, strict=True):
            buffer.copy_(start)
        part = part_slice(batch_size, world.rank * micro + m, parts)
        quiet = net.no_sync() if world.distributed and m < micro - 1 else nullcontext()
        with quiet:
            loss = batch_loss(rng, net=net, part=part)
            (loss / micro).backward()
        total += float(loss.detach())
        after.append([b.clone() for b in buffers])
    for i, buffer in enumerate(buffers):
        if buffer.is_floating_point():  # running statistics: the mean over the parts; counts agree already
            summed = after[0][i].clone()
            for values in after[1:]:
                summed += values[i]
            buffer.copy_(summed / micro)
    average_buffers(model, world)
    _step_if_finite(optimizer, total / micro)
    return step_summary(total, micro, bool(stop), world)


def _monitored(monitor: Monitor, model: torch.nn.Module, device: str) -> Monitor:
    """`monitor`, run with the model on the CPU (monitors feed CPU tensors) when it trains elsewhere."""
    if torch.device(device).type == "cpu":
        return monitor

    def on_cpu(net: torch.nn.Module, step: int, seconds: float, last: bool) -> None:
        model.to("cpu")
        try:
            monitor(net, step, seconds, last)
        finally:
            model.to(device)

    return on_cpu


def on_device(net: torch.nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`tensors` on the device of `net`'s parameters (the same tensors when that is the CPU)."""
    device = next(net.parameters()).device
    return tuple(t.to(device, non_blocking=True) for t in tensors)
