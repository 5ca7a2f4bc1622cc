"""A MIL program (the `main` function of an mlprogram spec) evaluated op by op with the numpy kernels.

Loading reads every operation of the function's block, refuses an op without a kernel (naming every such op),
and evaluates the constants once: `const` values and the `constexpr_*` decompressions, as Core ML does when it
loads a model. `run` then evaluates the rest in program order, casts each result to the type the op declares
(float16 results are rounded once per op) and checks its shape against the declared one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.runners.coreml_mil import ops_elementwise, ops_linear, ops_norm, ops_quant, ops_resize, ops_shape
from runtime.runners.coreml_mil.blob import WeightFile
from runtime.runners.coreml_mil.errors import MILError, UnsupportedOp
from runtime.runners.coreml_mil.kernels import KERNELS, Kernel, OpCall
from runtime.runners.coreml_mil.values import declared_shape, decode_value, dtype_name, numpy_dtype

KERNEL_MODULES = (ops_elementwise, ops_linear, ops_norm, ops_quant, ops_resize, ops_shape)  # each registers its ops


@dataclass(frozen=True)
class Output:
    """One declared output of an op: its variable name, element type and shape (None where unknown)."""

    name: str
    dtype: np.dtype | None
    shape: tuple[int | None, ...] | None


@dataclass
class Operation:
    """One parsed op: type, name, parameters bound to variables (names) or to decoded constants."""

    op_type: str
    name: str
    variables: dict[str, list[str]]  # parameter → variable names it reads
    constants: dict[str, Any]  # parameter → decoded value (attributes and immediate arguments)
    outputs: list[Output]

    @property
    def reads(self) -> list[str]:
        return [name for names in self.variables.values() for name in names]


def _output(named: Any) -> Output:
    kind = named.type.WhichOneof("type")
    if kind != "tensorType":
        return Output(named.name, None, None)
    tensor = named.type.tensorType
    name = dtype_name(tensor)
    return Output(named.name, None if name == "STRING" else numpy_dtype(name), declared_shape(tensor))


def _parse(op: Any, weights: Callable[[str], WeightFile]) -> Operation:
    """The op's bindings: a variable name, or an immediate value decoded now; attributes other than `name`."""
    name = op.attributes["name"].immediateValue.tensor.strings.values[0] if "name" in op.attributes else op.type
    variables: dict[str, list[str]] = {}
    constants: dict[str, Any] = {}
    for key, argument in op.inputs.items():
        bindings = list(argument.arguments)
        if all(b.WhichOneof("binding") == "name" for b in bindings):
            variables[key] = [b.name for b in bindings]
        elif len(bindings) == 1:
            constants[key] = decode_value(bindings[0].value, weights)
        else:
            raise MILError(f"{op.type} '{name}' mixes variables and values in its parameter '{key}'")
    for key, value in op.attributes.items():
        if key != "name":
            constants[key] = decode_value(value, weights)
    if len(op.blocks):
        raise UnsupportedOp(f"{op.type} '{name}': nested blocks are not implemented by the MIL interpreter")
    return Operation(op.type, str(name), variables, constants, [_output(o) for o in op.outputs])


class MILProgram:
    """The main function of an mlprogram: `inputs` (name → (dtype, shape)), `outputs` (names), and `run`."""

    def __init__(self, program: Any, weights: Callable[[str], WeightFile]) -> None:
        if "main" not in program.functions:
            raise MILError("the MIL program has no 'main' function")
        function = program.functions["main"]
        self.opset = function.opset
        if self.opset not in function.block_specializations:
            raise MILError(f"the main function has no block for its opset {self.opset}")
        block = function.block_specializations[self.opset]
        self.inputs = {i.name: (_output(i).dtype, _output(i).shape) for i in function.inputs}
        self.outputs = list(block.outputs)
        operations = [_parse(op, weights) for op in block.operations]
        missing = Counter(op.op_type for op in operations if op.op_type != "const" and op.op_type not in KERNELS)
        if missing:
            listed = ", ".join(f"{name} (×{count})" for name, count in sorted(missing.items()))
            raise UnsupportedOp(f"the MIL interpreter has no kernel for op {listed}")
        self.constants: dict[str, np.ndarray] = {}
        self.operations: list[Operation] = []
        for op in operations:
            if op.op_type == "const" or (op.op_type.startswith("constexpr_") and not op.variables):
                self.constants.update(zip([o.name for o in op.outputs], self._evaluate(op, {}), strict=True))
            else:
                self.operations.append(op)
        self.op_counts = dict(sorted(Counter(op.op_type for op in operations).items()))
        self._last_use = {name: i for i, op in enumerate(self.operations) for name in op.reads}

    def _evaluate(self, op: Operation, env: dict[str, Any]) -> list[np.ndarray]:
        """Run one op's kernel on its parameters; its results cast to the declared types and shape-checked."""
        if op.op_type == "const":
            results: tuple = (op.constants["val"],)
        else:
            params = dict(op.constants)
            for key, names in op.variables.items():
                values = [env[n] if n in env else self.constants[n] for n in names]
                params[key] = values if len(names) > 1 or key == "values" else values[0]
            call = OpCall(op.op_type, op.name, params, tuple(o.dtype for o in op.outputs))
            kernel: Kernel = KERNELS.get(op.op_type)
            result = kernel.run(call)
            results = result if isinstance(result, tuple) else (result,)
        if len(results) != len(op.outputs):
            raise MILError(f"{op.op_type} '{op.name}' gave {len(results)} outputs, the program declares "
                           f"{len(op.outputs)}")
        return [_as_declared(op, out, value) for out, value in zip(op.outputs, results, strict=True)]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The program's outputs for `feeds` (one array per function input, cast to its declared type)."""
        env: dict[str, Any] = {}
        for name, (dtype, shape) in self.inputs.items():
            if name not in feeds:
                raise MILError(f"the program takes input '{name}'")
            env[name] = _checked_shape(np.asarray(feeds[name]).astype(dtype, copy=False), shape, f"input '{name}'")
        for index, op in enumerate(self.operations):
            env.update(zip([o.name for o in op.outputs], self._evaluate(op, env), strict=True))
            for name in op.reads:
                if self._last_use.get(name) == index and name not in self.outputs and name in env:
                    del env[name]
        return {name: env[name] if name in env else self.constants[name] for name in self.outputs}


def _checked_shape(value: np.ndarray, shape: tuple[int | None, ...] | None, what: str) -> np.ndarray:
    if shape is not None and (len(shape) != value.ndim or any(
            d is not None and d != s for d, s in zip(shape, value.shape, strict=False))):
        raise MILError(f"{what} has shape {list(value.shape)}, the program declares "
                       f"{['?' if d is None else d for d in shape]}")
    return value


def _as_declared(op: Operation, out: Output, value: Any) -> Any:
    if isinstance(value, str) or out.dtype is None:
        return value
    value = np.asarray(value)
    if out.shape is not None and len(out.shape) == 0 and value.size == 1:
        value = value.reshape(())
    return _checked_shape(value.astype(out.dtype, copy=False), out.shape,
                          f"{op.op_type} '{op.name}' output '{out.name}'")
