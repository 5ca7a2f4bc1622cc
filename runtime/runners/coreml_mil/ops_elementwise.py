"""Elementwise MIL ops: arithmetic and comparisons with numpy broadcasting, activations, clip and cast."""

from __future__ import annotations

import numpy as np

from runtime.runners.coreml_mil.kernels import OpCall, along, kernel
from runtime.runners.coreml_mil.values import DTYPE_NAMES

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.true_divide,
    "maximum": np.maximum, "minimum": np.minimum, "pow": np.power, "floor_div": np.floor_divide,
    "mod": np.mod, "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


@kernel(*BINARY)
def binary(call: OpCall) -> np.ndarray:
    """x ∘ y, broadcast as numpy does (MIL's broadcasting rule is numpy's)."""
    x, y = call.x("x"), call.x("y")
    if call.op_type == "real_div" and x.dtype.kind in "iu" and y.dtype.kind in "iu":
        return np.true_divide(x, y).astype(np.float32)
    return BINARY[call.op_type](x, y)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float64 (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), numpy having none."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-z * z))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−x) from e^−|x|, which never overflows and keeps small values' relative precision."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _gelu(x: np.ndarray, mode: str) -> np.ndarray:
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x * sigmoid(1.702 * x)
    return (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)


UNARY = {
    "relu": lambda x: np.maximum(x, 0), "relu6": lambda x: np.clip(x, 0, 6), "sigmoid": sigmoid,
    "silu": lambda x: x * sigmoid(x), "tanh": np.tanh, "abs": np.abs, "exp": np.exp, "exp2": np.exp2,
    "sqrt": np.sqrt, "square": np.square, "sign": np.sign, "ceil": np.ceil, "floor": np.floor, "round": np.rint,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "erf": lambda x: erf(x).astype(np.float32),
    "logical_not": np.logical_not, "softsign": lambda x: x / (1 + np.abs(x)),
    "softplus": lambda x: np.logaddexp(0, x), "identity": lambda x: x,
}


@kernel(*UNARY)
def unary(call: OpCall) -> np.ndarray:
    return UNARY[call.op_type](call.x())


@kernel("gelu")
def gelu(call: OpCall) -> np.ndarray:
    """mode EXACT (erf), TANH_APPROXIMATION or SIGMOID_APPROXIMATION (x·σ(1.702x))."""
    return _gelu(call.x(), call.str("mode", "EXACT"))


@kernel("clip")
def clip(call: OpCall) -> np.ndarray:
    return np.minimum(np.maximum(call.x(), call.float("alpha")), call.float("beta"))


@kernel("threshold")
def threshold(call: OpCall) -> np.ndarray:
    return np.maximum(call.x(), call.float("alpha"))


@kernel("leaky_relu")
def leaky_relu(call: OpCall) -> np.ndarray:
    x = call.x()
    return np.where(x >= 0, x, call.float("alpha", 0.01) * x)


@kernel("elu")
def elu(call: OpCall) -> np.ndarray:
    x = call.x()
    return np.where(x > 0, x, call.float("alpha", 1.0) * (np.exp(np.minimum(x, 0)) - 1))


@kernel("prelu")
def prelu(call: OpCall) -> np.ndarray:
    """Per-channel slope on axis 1."""
    x = call.x()
    return np.where(x >= 0, x, along(call.x("alpha"), x.ndim, 1) * x)


@kernel("sigmoid_hard")
def sigmoid_hard(call: OpCall) -> np.ndarray:
    return np.clip(call.float("alpha", 0.2) * call.x() + call.float("beta", 0.5), 0, 1)


@kernel("linear_activation")
def linear_activation(call: OpCall) -> np.ndarray:
    return call.float("alpha") * call.x() + call.float("beta", 0.0)


@kernel("scaled_tanh")
def scaled_tanh(call: OpCall) -> np.ndarray:
    return call.float("alpha", 1.0) * np.tanh(call.float("beta", 1.0) * call.x())


@kernel("rsqrt", "inverse", "log")
def with_epsilon(call: OpCall) -> np.ndarray:
    """rsqrt 1/√(x+ε) (ε 1e-12), inverse 1/(x+ε) (ε 1e-4), log ln(x+ε) (ε 1e-45), ε as the op's defaults."""
    default = {"rsqrt": 1e-12, "inverse": 1e-4, "log": 1e-45}[call.op_type]
    x = call.x() + np.float32(call.float("epsilon", default))
    return {"rsqrt": lambda v: 1 / np.sqrt(v), "inverse": np.reciprocal, "log": np.log}[call.op_type](x)


@kernel("cast")
def cast(call: OpCall) -> np.ndarray:
    """To the dtype named (fp16, fp32, int32, …); floats to integers truncate toward zero."""
    name = call.str("dtype")
    if name not in DTYPE_NAMES:
        raise call.unsupported(f"a cast to {name}")
    return np.asarray(call.get("x")).astype(DTYPE_NAMES[name])
