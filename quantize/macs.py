"""How much of a quantized ONNX graph's work runs in int8: multiply-accumulates of every Conv, ConvTranspose,
MatMul and Gemm from the inferred shapes, counted as int8 when every float input of the node comes out of a
DequantizeLinear (the QDQ pattern onnxruntime, OpenVINO and TensorRT fuse into an int8 kernel)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

MAC_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def static_shapes(model: Any) -> dict[str, list[int]]:
    """Static shape of every value onnx's shape inference can give (initializers included)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {t.name: list(t.dims) for t in inferred.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    return shapes


def node_macs(node: Any, shapes: dict[str, list[int]]) -> int | None:
    """Multiply-accumulates of one node, None when a shape it needs is unknown."""
    out, weight = shapes.get(node.output[0]), shapes.get(node.input[1]) if len(node.input) > 1 else None
    if out is None or weight is None:
        return None
    if node.op_type == "Conv":  # every output element sums C_in / groups × kernel taps
        return math.prod(out) * math.prod(weight[1:])
    if node.op_type == "ConvTranspose":  # every input element scatters into C_out / groups × kernel taps
        data = shapes.get(node.input[0])
        return None if data is None else math.prod(data) * math.prod(weight[1:])
    transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
    inner = weight[-1] if transposed else weight[-2] if len(weight) > 1 else weight[0]
    return math.prod(out) * inner


def int8_mac_share(path: Path) -> dict[str, Any]:
    """{"macs": total, "int8_macs": …, "int8_share": …, "float_mac_nodes": names} of the ONNX model at `path`."""
    import onnx

    model = onnx.load(str(path))
    shapes = static_shapes(model)
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    total = int8 = 0
    float_nodes = []
    for node in model.graph.node:
        if node.op_type not in MAC_OPS:
            continue
        macs = node_macs(node, shapes)
        if macs is None:
            continue
        total += macs
        inputs = [name for name in node.input[:2] if name]
        if all(producer.get(name) == "DequantizeLinear" for name in inputs):
            int8 += macs
        else:
            float_nodes.append(node.name)
    return {"macs": total, "int8_macs": int8, "int8_share": round(int8 / total, 4) if total else 0.0,
            "float_mac_nodes": float_nodes}
