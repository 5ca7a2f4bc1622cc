"""Static int8 for ONNX with onnxruntime's quantizer, QDQ format, in two styles from one code path:

- for CPUs (`CPU_STYLE`): per-channel 7-bit int8 weights, uint8 asymmetric activations, quantized bias — what
  onnxruntime's and OpenVINO's int8 kernels run fastest;
- for TensorRT (`TENSORRT_STYLE`): symmetric int8 everywhere (zero point 0, int8 not uint8), full-range
  per-channel weights, float bias — the explicit-quantization rules TensorRT builds int8 engines from.

Static QDQ is what runs fast (int8 kernels for Conv/MatMul); dynamic quantization (ConvInteger) runs slower than
fp32 for convolutional networks, so it is not offered here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantize.calibration import as_feeds
from quantize.ranges import floor_ranges

MODEL_FILE = "model.onnx"
CALIBRATE_METHODS = ("minmax", "percentile", "entropy")
# The last convolution (the 1-channel output head) stays float: its int8 rounding would land directly on every
# output pixel, and it costs well under 1 % of the model's work. Measured on the mono demo student (8 held-out scenes):
# int8 PSNR vs fp32 31.3 dB with it quantized, 41.1 dB without (minmax, percentile and entropy: 31-31.3 dB).
KEEP_FLOAT_TAIL = 1
# Op types left in float whatever the model: the ones a vision transformer's accuracy is known to hinge on
# (LayerNorm's variance, Softmax's exponentials, GELU's curve); a convolutional student has none of them.
KEEP_FLOAT_OPS = ("LayerNormalization", "Softmax", "Gelu", "Erf")
# In a transformer (a graph with LayerNormalization) the residual stream's Add and Mul (layer scale) stay float
# too. Measured on Depth Anything V2 Small at 518 px, 2 threads: int8 661 ms and 35.4 dB vs fp32 with them float,
# 733 ms and 33.0 dB with them quantized (fp32 875-889 ms). A convolutional student keeps its int8 Adds.
TRANSFORMER_KEEP_FLOAT_OPS = ("Add", "Mul")
# Weights use 7 of their 8 bits. x86 CPUs without VNNI (AVX2 and plain AVX-512: AMD Zen 3, Intel before Cascade
# Lake) multiply uint8 activations by int8 weights with an instruction that saturates pairs of products at int16;
# with full-range weights that garbles outputs (a random-init student on AMD EPYC Zen 3: 19 dB PSNR vs fp32 where
# a VNNI machine gives 30+). 7-bit weights cannot saturate, so the artifact is right on every CPU it runs on.
REDUCE_RANGE = True


@dataclass(frozen=True)
class QDQStyle:
    """How the QDQ graph quantizes: activation type and symmetry, weight range, whether biases are quantized;
    `weights` and `activations` describe it in the manifest."""

    method: str
    symmetric_activations: bool
    reduce_range: bool
    quantize_bias: bool
    weights: str
    activations: str
    # Op types whose outputs stay float: onnxruntime then runs DQ→MatMul as MatMulIntegerToFloat and Gemm as a
    # float-output QGemm, instead of requantizing the output only to dequantize it again for the float op after
    # (a transformer's residual Add, Softmax, GELU). Measured on Depth Anything V2 Small at 518 px, 2 threads:
    # int8 682 ms against 798 ms with quantized outputs (fp32 904 ms), the same PSNR vs fp32 (36.8 dB).
    float_outputs: tuple[str, ...] = ()


CPU_STYLE = QDQStyle("onnxruntime-static-qdq", symmetric_activations=False, reduce_range=REDUCE_RANGE,
                     quantize_bias=True, weights="int8 per-channel symmetric, 7-bit range",
                     activations="uint8 per-tensor asymmetric", float_outputs=("MatMul", "Gemm"))
# TensorRT multiplies int8 by int8 with int32 accumulation on the GPU, so full-range weights are safe there.
TENSORRT_STYLE = QDQStyle("onnxruntime-static-qdq, TensorRT rules", symmetric_activations=True, reduce_range=False,
                          quantize_bias=False, weights="int8 per-channel (output-channel axis) symmetric, full range",
                          activations="int8 per-tensor symmetric (zero point 0)")


class CalibrationReader:
    """onnxruntime CalibrationDataReader over a list of calibration items."""

    def __init__(self, input_names: str | list[str], calibration: list) -> None:
        self._feeds = iter(as_feeds(calibration, input_names))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # pragma: no cover - onnxruntime calls it only for some calibrators
        raise RuntimeError("calibration reader cannot rewind")


def kept_float_op_types(model_path: Path) -> tuple[str, ...]:
    """The op types int8 leaves float in this graph: KEEP_FLOAT_OPS, and in a transformer its residual stream."""
    import onnx

    ops = {node.op_type for node in onnx.load(str(model_path), load_external_data=False).graph.node}
    return KEEP_FLOAT_OPS + (TRANSFORMER_KEEP_FLOAT_OPS if "LayerNormalization" in ops else ())


def _tail_conv_nodes(model_path: Path, count: int) -> list[str]:
    """Names of the last `count` Conv nodes in graph order (the output head), to keep in float."""
    import onnx

    if count <= 0:
        return []
    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "Conv"][-count:]


def quantize_onnx_qdq(
    fp32_path: Path,
    calibration: list[np.ndarray],
    input_name: str | list[str],
    out_path: Path,
    calibrate_method: str = "minmax",
    keep_float_tail: int = KEEP_FLOAT_TAIL,
    style: QDQStyle = CPU_STYLE,
) -> dict[str, Any]:
    """Write the static QDQ int8 version of the fp32 ONNX model at `fp32_path` to `out_path` in `style`.

    Returns the manifest's "quantization" entry (method, weight/activation types, calibration details).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibrate_method not in CALIBRATE_METHODS:
        raise ValueError(f"unknown calibration method '{calibrate_method}' (known: {', '.join(CALIBRATE_METHODS)})")
    if not calibration:
        raise ValueError("int8 calibration needs at least one input")
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[calibrate_method]
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        excluded = _tail_conv_nodes(prepared, keep_float_tail)
        float_ops = kept_float_op_types(prepared)
        raised = degenerate_ranges(prepared, input_name, calibration, Path(work))
        overrides = {name: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}] for name, (lo, hi) in raised.items()}
        quantize_static(
            str(prepared), str(out_path), CalibrationReader(input_name, calibration),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QInt8 if style.symmetric_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=method, nodes_to_exclude=excluded or None,
            # onnxruntime's own default (both registries), less the ops kept float
            op_types_to_quantize=sorted({*QDQRegistry, *QLinearOpsRegistry} - set(float_ops)),
            reduce_range=style.reduce_range,
            extra_options={"ActivationSymmetric": style.symmetric_activations, "WeightSymmetric": True,
                           "QuantizeBias": style.quantize_bias, "TensorQuantOverrides": overrides,
                           "OpTypesToExcludeOutputQuantization": list(style.float_outputs)},
        )
    return {
        "method": style.method, "weights": style.weights, "activations": style.activations,
        "bias": "int32 (quantized)" if style.quantize_bias else "float (not quantized)",
        "calibrate_method": calibrate_method,
        "calibration_samples": len(calibration), "float_nodes": excluded, "float_op_types": list(float_ops),
        "float_outputs_of": list(style.float_outputs),
        "floored_ranges": sorted(raised), "macs": _mac_summary(out_path),
    }


def _mac_summary(path: Path) -> dict[str, Any]:
    """The manifest's count of multiply-accumulates and the share that runs in int8."""
    from quantize.macs import int8_mac_share

    share = int8_mac_share(path)
    return {"total": share["macs"], "int8": share["int8_macs"], "int8_share": share["int8_share"]}


def degenerate_ranges(model_path: Path, input_name: str | list[str], calibration: list, work: Path
                      ) -> dict[str, tuple[float, float]]:
    """{activation: floored (min, max)} for the activations whose min/max over `calibration` is narrower than the
    model's floor (`quantize.ranges`): onnxruntime would give a range of zero scale 1 and a range of 1e-12 a scale
    near 4e-15, where `quantize.ranges` gives every backend's int8 the same minimum."""
    return floor_ranges(activation_ranges(model_path, input_name, calibration, work))


def activation_ranges(model_path: Path, input_name: str | list[str], calibration: list, work: Path
                      ) -> dict[str, tuple[float, float]]:
    """{activation: (min, max)} over `calibration`, from onnxruntime's MinMax calibrator (unfloored)."""
    from onnxruntime.quantization import CalibrationMethod, create_calibrator

    calibrator = create_calibrator(str(model_path), augmented_model_path=str(work / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.MinMax)
    calibrator.collect_data(CalibrationReader(input_name, calibration))
    found = {}
    for name, tensor in calibrator.compute_data().data.items():
        low, high = tensor.range_value
        found[name] = (float(np.min(low)), float(np.max(high)))
    return found


def quantize_file(src: Path, dst: Path, calibration: list, input_names: list[str]) -> dict[str, Any]:
    """The registry's calling convention: static QDQ int8 of `src` into `dst` with the default settings."""
    return quantize_onnx_qdq(src, calibration, input_names, dst)


def quantize_file_tensorrt(src: Path, dst: Path, calibration: list, input_names: list[str]) -> dict[str, Any]:
    """The registry's calling convention: static QDQ int8 of `src` into `dst` under TensorRT's rules."""
    return quantize_onnx_qdq(src, calibration, input_names, dst, style=TENSORRT_STYLE)
