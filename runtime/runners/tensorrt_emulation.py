"""TensorRT's numerics on a CPU: the bundle's ONNX graph in onnxruntime with its Q/DQ operators run as written.

onnxruntime normally fuses Q/DQ pairs into its own int8 kernels, whose arithmetic differs from TensorRT's (and,
on x86 CPUs without VNNI, saturates full-range int8 weights). With those fusions off, every DequantizeLinear
yields exactly the int8 values times their scale and the convolutions run in float: products of int8 values are
exact in float32, as TensorRT's int32 accumulation is, so outputs differ from TensorRT only by accumulation order
and the fp16 of layers TensorRT leaves in float. Used for parity and accuracy where TensorRT cannot run; its rows
are never timed.
"""

from __future__ import annotations

from runtime.runners.onnxruntime import OnnxRuntimeRunner
from runtime.runners.registry import register_runner


@register_runner
class TensorRTEmulationRunner(OnnxRuntimeRunner):
    """Runs TensorRT bundles' model.onnx in onnxruntime on the CPU, Q/DQ unfused (see the module docstring)."""

    name = "tensorrt-emulation"
    formats = ("tensorrt",)
    emulates = True
    install_hint = "pip install onnxruntime"
    session_config = (("session.disable_quant_qdq", "1"),)
