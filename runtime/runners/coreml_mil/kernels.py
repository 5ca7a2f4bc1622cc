"""The kernel registry of the MIL interpreter and what a kernel receives: one operation's parameters as numpy
arrays, read with small typed accessors.

A kernel computes in float32 whatever the program's float type (sums accumulate in float32); the program rounds
its result to the type the operation declares (float16 for an fp16 program), so each op is rounded once, as a
float16 backend stores it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.registry import Registry
from runtime.runners.coreml_mil.errors import MILError, UnsupportedOp

Result = np.ndarray | tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Kernel:
    """The numpy implementation of one MIL operation type."""

    name: str
    run: Callable[[OpCall], Result]


KERNELS: Registry[Kernel] = Registry("MIL op", key=lambda k: k.name, error=UnsupportedOp)


def kernel(*names: str) -> Callable[[Callable[[OpCall], Result]], Callable[[OpCall], Result]]:
    """Decorator: register the function as the kernel of each MIL op type in `names`."""
    def register(fn: Callable[[OpCall], Result]) -> Callable[[OpCall], Result]:
        for name in names:
            KERNELS.register(Kernel(name, fn))
        return fn
    return register


def f32(x: np.ndarray) -> np.ndarray:
    """Float arrays as float32 (the accumulation type); integers and booleans as they are."""
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype.kind == "f" and x.dtype != np.float32 else x


def along(vector: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A scalar as it is, a vector shaped to broadcast along `axis` of a rank-`rank` tensor."""
    vector = np.asarray(vector)
    if vector.ndim == 0:
        return vector
    shape = [1] * rank
    shape[axis % rank] = -1
    return vector.reshape(shape)


@dataclass
class OpCall:
    """One operation to evaluate: its type and name, its parameters by name (variadic ones as lists) and the
    element types it declares for its outputs."""

    op_type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    out_dtypes: tuple[np.dtype, ...] = ()

    def has(self, key: str) -> bool:
        return key in self.params

    def get(self, key: str, default: Any = None) -> Any:
        """A parameter as stored (numpy array, or str); `default` when absent; MILError when required."""
        if key in self.params:
            return self.params[key]
        if default is None:
            raise MILError(f"{self.op_type} '{self.name}' lacks its parameter '{key}'")
        return default

    def x(self, key: str = "x") -> np.ndarray:
        """A tensor parameter in compute precision (float32 for floats)."""
        return f32(self.get(key))

    def many(self, key: str) -> list[np.ndarray]:
        value = self.get(key)
        return list(value) if isinstance(value, list) else [value]

    def ints(self, key: str, default: Any = None) -> list[int]:
        value = self.get(key, default)
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def int(self, key: str, default: Any = None) -> int:
        return int(np.asarray(self.get(key, default)).reshape(-1)[0])

    def float(self, key: str, default: Any = None) -> float:
        return float(np.asarray(self.get(key, default)).reshape(-1)[0])

    def bool(self, key: str, default: Any = None) -> bool:
        return bool(np.asarray(self.get(key, default)).reshape(-1)[0])

    def bools(self, key: str, rank: int) -> list[bool]:
        if key not in self.params:
            return [False] * rank
        return [bool(v) for v in np.asarray(self.params[key]).reshape(-1)]

    def str(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        return value if isinstance(value, str) else str(np.asarray(value).reshape(-1)[0])

    def axes(self, key: str, rank: int) -> tuple[int, ...] | None:
        """Axes normalised to 0..rank-1, or None when the parameter is absent (meaning every axis)."""
        if key not in self.params:
            return None
        return tuple(sorted(a % rank for a in self.ints(key)))

    def unsupported(self, what: str) -> UnsupportedOp:
        """The error for a variant of this op the interpreter does not implement (named, never approximated)."""
        return UnsupportedOp(f"{self.op_type} '{self.name}': {what} is not implemented by the MIL interpreter")
