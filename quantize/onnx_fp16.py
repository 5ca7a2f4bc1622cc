"""float16 ONNX: weights and compute in float16, graph inputs and outputs kept float32 (so one feed runs every
precision); onnxruntime's converter, no calibration. LayerNormalization and Softmax stay float32: their sums of
squares and exponentials overflow float16's 65504 on transformer activations (TensorRT and onnxruntime alike),
and they are a sliver of the work."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from runtime.atomic import atomic_file

FLOAT32_OPS = ("LayerNormalization", "Softmax")


def quantize_file(src: Path, dst: Path, calibration: list, input_names: list[str]) -> dict[str, Any]:
    """The registry's calling convention: the float32 ONNX file `src` as float16 in `dst`."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True,
                                         op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FLOAT32_OPS])
    with atomic_file(Path(dst)) as tmp:
        onnx.save(model, str(tmp))
    return {"method": "onnxruntime float16 converter", "weights": "float16", "activations": "float16",
            "io": "float32", "float32_op_types": list(FLOAT32_OPS)}
