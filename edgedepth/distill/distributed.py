"""Many processes, one distillation: the process group `torchrun` describes, the device each rank trains on, how a
batch is split between ranks, and the few collectives the loop needs.

torchrun puts RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in each worker's environment; without
them a run is one process (rank 0 of 1) and nothing here talks to another process. Ranks communicate over gloo
on CPUs and nccl on GPUs.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from edgedepth.distill.config import DEVICE_CHOICES
from edgedepth.errors import ConfigError, EdgeDepthError


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a run, and the torch device it trains on."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        """Whether this rank writes checkpoints, logs and the progress bar (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether other ranks share the work (gradients are all-reduced)."""
        return self.size > 1


def launched() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, or (0, 1, 0) for a process on its own."""
    try:
        return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise EdgeDepthError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})") from exc


def resolve_device(choice: str, local_rank: int = 0) -> str:
    """The torch device for `choice`: "cpu", or "cuda:<local rank>" for "cuda" (and for "auto" where torch sees
    a GPU); asking for CUDA where there is none is a one-line error."""
    if choice not in DEVICE_CHOICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    if choice == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise EdgeDepthError(f"local rank {local_rank} has no GPU (this node has {count}); start at most "
                                 f"{count} processes per node")
        return f"cuda:{local_rank}"
    if choice == "cuda":
        raise EdgeDepthError("--device cuda: torch sees no CUDA device here (use --device cpu or auto)")
    return "cpu"


def split_batch(batch_size: int, ranks: int, micro_batches: int = 1) -> int:
    """Samples per part when `batch_size` (the global batch) is shared by `ranks` × `micro_batches` parts; a
    batch that does not divide is a one-line error (the global batch and the schedule must not depend on N)."""
    if micro_batches < 1:
        raise ConfigError(f"micro_batches must be at least 1, got {micro_batches}")
    parts = ranks * micro_batches
    if batch_size % parts:
        raise ConfigError(f"--batch-size {batch_size} does not split into {ranks} rank(s) × {micro_batches} "
                          f"micro-batch(es): use a multiple of {parts}")
    return batch_size // parts


def part_slice(batch_size: int, index: int, parts: int) -> slice:
    """The `index`-th of `parts` equal consecutive slices of a batch of `batch_size`."""
    size = batch_size // parts
    return slice(index * size, (index + 1) * size)


@contextmanager
def process_group(device: str = "auto") -> Iterator[World]:
    """The run's `World`: under torchrun, joins the process group (nccl on GPUs, gloo on CPUs) for the block and
    leaves it afterwards; on its own, rank 0 of 1 with no group."""
    import torch.distributed as dist

    rank, size, local_rank = launched()
    chosen = resolve_device(device, local_rank)
    world = World(rank, size, local_rank, chosen)
    if size == 1 or dist.is_initialized():
        yield world
        return
    if chosen.startswith("cuda"):
        torch.cuda.set_device(chosen)
    dist.init_process_group("nccl" if chosen.startswith("cuda") else "gloo")
    try:
        yield world
    finally:
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """`model` inside DistributedDataParallel when ranks share the work, else `model` itself. Buffers are not
    broadcast: each rank's BatchNorm statistics stay its own until `average_buffers` after the step."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(world.device).index] if world.device.startswith("cuda") else None
    # find_unused_parameters: the students hold a few weights their forward never uses (an encoder's unused head).
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False, find_unused_parameters=True)
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False, find_unused_parameters=True)


def float_buffers(model: torch.nn.Module) -> list[torch.Tensor]:
    """The model's floating-point buffers (BatchNorm running statistics): what is averaged over the parts."""
    return [buffer for buffer in model.buffers() if buffer.is_floating_point()]


def average_buffers(model: torch.nn.Module, world: World) -> None:
    """Replace each rank's floating buffers by their mean over the ranks (sum, then divided by the size)."""
    if not world.distributed:
        return
    import torch.distributed as dist

    for buffer in float_buffers(model):
        dist.all_reduce(buffer)
        buffer.div_(world.size)


def step_summary(loss_sum: float, parts: int, stop: bool, world: World) -> tuple[float, bool]:
    """(mean loss over every part of the step, whether any rank asks to stop): one all-reduce between ranks, so
    every rank logs the same loss and all stop after the same step."""
    if not world.distributed:
        return loss_sum / parts, stop
    import torch.distributed as dist

    values = torch.tensor([loss_sum, float(stop)], dtype=torch.float64, device=world.device)
    dist.all_reduce(values)
    return float(values[0]) / (parts * world.size), bool(values[1] > 0)
