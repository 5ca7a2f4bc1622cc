"""MIL values as numpy arrays: the program's data types, immediate values and weight-file blobs.

A tensor type names its element type (FLOAT16, INT8, UINT4, …) and its shape; values are decoded into the numpy
dtype that holds them exactly (float16 stays float16, sub-byte integers are unpacked into uint8/int8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from runtime.runners.coreml_mil.blob import WeightFile
from runtime.runners.coreml_mil.errors import MILError

# MIL data type name → (numpy dtype, bits per element when packed below a byte, signed)
DTYPES: dict[str, tuple[np.dtype, int | None, bool]] = {
    "BOOL": (np.dtype(np.bool_), None, False),
    "FLOAT16": (np.dtype(np.float16), None, True),
    "FLOAT32": (np.dtype(np.float32), None, True),
    "FLOAT64": (np.dtype(np.float64), None, True),
    "INT8": (np.dtype(np.int8), None, True),
    "INT16": (np.dtype(np.int16), None, True),
    "INT32": (np.dtype(np.int32), None, True),
    "INT64": (np.dtype(np.int64), None, True),
    "UINT8": (np.dtype(np.uint8), None, False),
    "UINT16": (np.dtype(np.uint16), None, False),
    "UINT32": (np.dtype(np.uint32), None, False),
    "UINT64": (np.dtype(np.uint64), None, False),
    "INT4": (np.dtype(np.int8), 4, True),
    "UINT1": (np.dtype(np.uint8), 1, False),
    "UINT2": (np.dtype(np.uint8), 2, False),
    "UINT3": (np.dtype(np.uint8), 3, False),
    "UINT4": (np.dtype(np.uint8), 4, False),
    "UINT6": (np.dtype(np.uint8), 6, False),
}
# The names `cast` and `quantize` take for a dtype.
DTYPE_NAMES = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64, "int8": np.int8, "uint8": np.uint8,
               "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def dtype_name(tensor_type: Any) -> str:
    """The MIL name of a TensorType's element type ("FLOAT16", …)."""
    return type(tensor_type).DESCRIPTOR.fields_by_name["dataType"].enum_type.values_by_number[
        tensor_type.dataType].name


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds elements of MIL type `name`; MILError for one the interpreter does not read."""
    if name not in DTYPES:
        raise MILError(f"the MIL interpreter does not read {name} values")
    return DTYPES[name][0]


def declared_shape(tensor_type: Any) -> tuple[int | None, ...] | None:
    """The dimensions a TensorType declares (None for an unknown one; None for all when its rank is unknown)."""
    if int(tensor_type.rank) != len(tensor_type.dimensions):
        return None
    return tuple(int(d.constant.size) if d.WhichOneof("dimension") == "constant" else None
                 for d in tensor_type.dimensions)


def unpack_bits(packed: np.ndarray, bits: int, count: int, signed: bool) -> np.ndarray:
    """`count` integers of `bits` bits packed least significant bit first (MIL's sub-byte layout)."""
    flat = np.unpackbits(np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1), bitorder="little")
    if flat.size < bits * count:
        raise MILError(f"{packed.size} bytes hold fewer than {count} values of {bits} bits")
    fields = flat[:bits * count].reshape(count, bits).astype(np.int16)
    values = (fields << np.arange(bits, dtype=np.int16)).sum(axis=1)
    if signed:
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
        return values.astype(np.int8)
    return values.astype(np.uint8)


def _from_bytes(data: np.ndarray | bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, bits, signed = DTYPES[name]
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, bytes) else data
    if bits is not None:
        return unpack_bits(raw, bits, count, signed).reshape(shape)
    values = raw.view(dtype) if raw.size else np.zeros(0, dtype)
    if values.size != count:
        raise MILError(f"a {name} value of shape {list(shape)} holds {values.size} elements")
    return values.reshape(shape)


def _immediate(tensor: Any, name: str, shape: tuple[int, ...]) -> np.ndarray | str:
    field = tensor.WhichOneof("value")
    if field == "bytes":
        return _from_bytes(tensor.bytes.values, name, shape)
    if field == "strings":
        values = list(tensor.strings.values)
        return values[0] if not shape else np.array(values, dtype=object).reshape(shape)
    values = list(getattr(tensor, field).values) if field else []
    array = np.array(values, dtype=numpy_dtype(name))
    count = int(np.prod(shape, dtype=np.int64))
    if array.size == 1 and count != 1:
        array = np.broadcast_to(array, shape)
    return array.reshape(shape)


def decode_value(value: Any, weights: Callable[[str], WeightFile] | None) -> Any:
    """A MIL Value (immediate or in a weight file, opened by `weights(file name)`) as a numpy array (a str for a
    string scalar)."""
    kind = value.type.WhichOneof("type")
    if kind != "tensorType":
        raise MILError(f"the MIL interpreter does not read {kind} values")
    tensor_type = value.type.tensorType
    name = dtype_name(tensor_type)
    shape = declared_shape(tensor_type)
    if shape is None or any(d is None for d in shape):
        raise MILError("a constant with an unknown dimension")
    if name == "STRING":
        return _immediate(value.immediateValue.tensor, name, shape)
    numpy_dtype(name)
    if value.WhichOneof("value") == "blobFileValue":
        if weights is None:
            raise MILError("a constant lives in a weight file, but the package has none")
        blob = value.blobFileValue
        return _from_bytes(weights(blob.fileName).raw(int(blob.offset)), name, shape)
    return _immediate(value.immediateValue.tensor, name, shape)
