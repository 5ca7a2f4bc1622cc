"""Run torch work at a fixed intra-op thread count, and put the previous count back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from runtime.threads import capped_threads


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (unchanged if None), restoring the previous count."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(capped_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
