"""Small ONNX depth models written with onnx.helper, in the shapes files from model zoos come in: NCHW or NHWC
input, static or dynamic size, float32 or float16 I/O, an output at the input's resolution or half of it, extra
outputs beside the depth map, an old opset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG_SEED = 3


def write_depth_onnx(path: Path, size: tuple[int, int] = (48, 64), layout: str = "NCHW", dynamic: bool = False,
                     float16: bool = False, half_output: bool = False, extra_output: bool = False,
                     input_name: str = "input", output_name: str = "predicted_depth", opset: int = 17) -> Path:
    """Conv 3×3 (3→4, stride 2 with `half_output`) → Relu → Conv 3×3 (4→1) → Softplus: a positive 1×1×h×w map
    (relative inverse depth that depends on the whole input), wrapped in what the options ask for."""
    rng = np.random.default_rng(RNG_SEED)
    height, width = size
    nodes, current = [], input_name
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [current], ["nchw"], perm=[0, 3, 1, 2]))
        current = "nchw"
    if float16:
        nodes.append(helper.make_node("Cast", [current], ["as_float"], to=TensorProto.FLOAT))
        current = "as_float"
    stride = 2 if half_output else 1
    nodes += [helper.make_node("Conv", [current, "w1", "b1"], ["conv1"], pads=[1, 1, 1, 1], strides=[stride] * 2),
              helper.make_node("Relu", ["conv1"], ["features"]),
              helper.make_node("Conv", ["features", "w2", "b2"], ["conv2"], pads=[1, 1, 1, 1]),
              helper.make_node("Softplus", ["conv2"], ["map" if float16 else output_name])]
    if float16:
        nodes.append(helper.make_node("Cast", ["map"], [output_name], to=TensorProto.FLOAT16))
    inits = [numpy_helper.from_array(rng.normal(0, 0.4, (4, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.4, (1, 4, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array([0.2], np.float32), "b2")]
    dims = ["height", "width"] if dynamic else [height, width]
    shape = [1, 3, *dims] if layout == "NCHW" else [1, *dims, 3]
    element = TensorProto.FLOAT16 if float16 else TensorProto.FLOAT
    out_dims = ["out_h", "out_w"] if dynamic else [-(-height // stride), -(-width // stride)]
    outputs = [helper.make_tensor_value_info(output_name, element, [1, 1, *out_dims])]
    if extra_output:
        outputs.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4, *out_dims]))
    graph = helper.make_graph(nodes, "depth", [helper.make_tensor_value_info(input_name, element, shape)],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
