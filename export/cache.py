"""Conversions remembered per process: a format's precisions of one student start from the same converted float
model (litert-torch's flatbuffer, coremltools' mlprogram), so `--precision all` converts from torch once per float
compute instead of once per precision (about 20 s each on 2 cores)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def module_fingerprint(module: nn.Module, examples: tuple[torch.Tensor, ...], extra: str = "") -> str:
    """sha256 over what a conversion depends on: module structure (repr), weights, example shapes and dtypes,
    and `extra` (input/output names, compute precision)."""
    digest = hashlib.sha256()
    shapes = [(list(t.shape), str(t.dtype)) for t in examples]
    digest.update(f"{repr(module)}|{shapes}|{extra}".encode())
    for key, tensor in module.state_dict().items():
        if not isinstance(tensor, torch.Tensor):  # quantized modules keep settings (a qscheme) in their state
            digest.update(f"{key}|{tensor!r}".encode())
            continue
        if tensor.is_quantized:
            tensor = tensor.dequantize()
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{data.dtype}|{list(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class ConversionCache:
    """The last `size` conversions by fingerprint (least recently used goes first)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get_or_make(self, key: str, make: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every conversion (the next one of each is made afresh)."""
        self._items.clear()
