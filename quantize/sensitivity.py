"""Where int8 hurts: each multiply-accumulate layer of an fp32 ONNX model quantized alone, its output compared
with the fp32 model's on the same inputs, sorted from the most to the least harmful.

One layer at a time is emulated exactly as the int8 export quantizes it: weights per output channel, symmetric,
rounded to int8 and back (7-bit range, as the CPU int8 export uses); each activation input through a
QuantizeLinear → DequantizeLinear pair, uint8 per tensor, its range the min/max over the calibration inputs
(floored as every int8 quantizer floors it). The rest of the graph stays float, so the PSNR drop is that layer's
alone.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantize.calibration import as_feeds
from quantize.macs import MAC_OPS, node_macs, static_shapes
from quantize.ranges import floor_ranges
from runtime.metrics import agreement

WEIGHT_LEVELS = 63  # 7-bit symmetric weights, as quantize.onnxruntime_qdq's CPU style


@dataclass(frozen=True)
class LayerSensitivity:
    """One layer's effect when it alone is int8: PSNR and max |Δ|/range vs fp32, and its share of the work."""

    node: str
    op: str
    macs: int
    psnr_db: float
    max_abs_rel: float


def _weight_axis(node: Any) -> int:
    """The output-channel axis of a node's weight: 0 for Conv / Gemm(transB), 1 for ConvTranspose, last else."""
    if node.op_type == "Conv" or (node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)):
        return 0
    return 1 if node.op_type == "ConvTranspose" else -1


def fake_quantize_weight(weight: np.ndarray, axis: int) -> np.ndarray:
    """`weight` rounded to symmetric per-channel int8 (WEIGHT_LEVELS each side) along `axis`, and back."""
    moved = np.moveaxis(weight.astype(np.float32), axis, 0)
    peak = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak / WEIGHT_LEVELS, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (moved.ndim - 1)
    rounded = np.clip(np.round(moved / scale.reshape(shape)), -WEIGHT_LEVELS, WEIGHT_LEVELS) * scale.reshape(shape)
    return np.moveaxis(rounded, 0, axis).astype(np.float32)


def _uint8_params(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """Scale and zero point of uint8 asymmetric quantization over [min(low, 0), max(high, 0)]."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 if high > low else 1.0
    return np.float32(scale), np.uint8(np.clip(round(-low / scale), 0, 255))


def _activation_ranges(model_path: Path, names: list[str], calibration: list) -> dict[str, tuple[float, float]]:
    """Min/max of every activation over the calibration inputs, floored as the int8 export floors them."""
    from quantize.onnxruntime_qdq import activation_ranges

    with tempfile.TemporaryDirectory() as work:
        found = activation_ranges(model_path, names, calibration, Path(work))
    return {**found, **floor_ranges(found)}


def _one_layer_int8(model: Any, node_index: int, ranges: dict[str, tuple[float, float]]) -> bytes:
    """The model with node `node_index` alone quantized (weights rounded, activations through Q/DQ)."""
    import onnx
    from onnx import helper, numpy_helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    node = copy.graph.node[node_index]
    weights = {init.name: init for init in copy.graph.initializer}
    added = []
    for slot, name in enumerate(list(node.input[:2])):
        if name in weights:
            rounded = fake_quantize_weight(numpy_helper.to_array(weights[name]), _weight_axis(node))
            weights[name].CopyFrom(numpy_helper.from_array(rounded, name))
        elif name in ranges:
            scale, zero = _uint8_params(*ranges[name])
            tag = f"{name}_sensitivity"
            copy.graph.initializer.extend([numpy_helper.from_array(np.array(scale), f"{tag}_scale"),
                                           numpy_helper.from_array(np.array(zero), f"{tag}_zero")])
            added += [helper.make_node("QuantizeLinear", [name, f"{tag}_scale", f"{tag}_zero"], [f"{tag}_q"]),
                      helper.make_node("DequantizeLinear", [f"{tag}_q", f"{tag}_scale", f"{tag}_zero"], [f"{tag}_dq"])]
            node.input[slot] = f"{tag}_dq"
    for offset, extra in enumerate(added):
        copy.graph.node.insert(node_index + offset, extra)
    return copy.SerializeToString()


def layer_sensitivity(model_path: Path, calibration: list, input_names: list[str],
                      threads: int = 2) -> list[LayerSensitivity]:
    """Every Conv / ConvTranspose / MatMul / Gemm of the fp32 ONNX model at `model_path`, alone in int8, sorted
    by PSNR vs fp32 on the calibration inputs (lowest first: where int8 hurts most)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    feeds = as_feeds(calibration, input_names)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads

    def outputs(serialized: bytes | str) -> np.ndarray:
        session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
        return np.stack([session.run(None, feed)[0] for feed in feeds])

    reference = outputs(str(model_path))
    ranges = _activation_ranges(model_path, input_names, calibration)
    shapes = static_shapes(model)
    found = []
    for index, node in enumerate(model.graph.node):
        if node.op_type not in MAC_OPS:
            continue
        stats = agreement(reference, outputs(_one_layer_int8(model, index, ranges)))
        psnr = stats["psnr_db"]
        found.append(LayerSensitivity(node.name, node.op_type, int(node_macs(node, shapes) or 0),
                                      round(psnr, 2) if math.isfinite(psnr) else psnr,
                                      float(f"{stats['max_abs_rel']:.3g}")))
    return sorted(found, key=lambda layer: layer.psnr_db)


def sensitivity_table(layers: list[LayerSensitivity], limit: int | None = None) -> str:
    """A markdown table of `layers` (in their order), the first `limit` of them when given."""
    total = sum(layer.macs for layer in layers) or 1
    lines = ["| layer | op | share of MACs | PSNR vs fp32 (dB) | max |Δ|/range |", "|---|---|---|---|---|"]
    for layer in layers[:limit]:
        lines.append(f"| {layer.node} | {layer.op} | {100 * layer.macs / total:.1f} % | {layer.psnr_db:.1f} | "
                     f"{layer.max_abs_rel:.2e} |")
    return "\n".join(lines)


def sensitivity_json(layers: list[LayerSensitivity], bundle: str, samples: int) -> dict[str, Any]:
    """The JSON report: what was measured and every layer, most harmful first."""
    return {"bundle": bundle, "inputs": f"{samples} calibration inputs",
            "method": "each layer alone int8 (weights per-channel 7-bit symmetric, activations uint8 per tensor), "
                      "output vs fp32", "layers": [asdict(layer) for layer in layers]}
