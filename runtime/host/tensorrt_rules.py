"""The rules TensorRT enforces on an ONNX graph it builds an engine from, checked on the host so that a bundle
that would fail (or silently lose its int8) on a Jetson is refused at export, in one line.

Explicit quantization (Q/DQ) in TensorRT is symmetric int8: every QuantizeLinear/DequantizeLinear has an int8
zero point equal to 0, activations are quantized per tensor, weights per output channel, and biases stay float
(TensorRT quantizes them itself). Shapes must be static for an engine built without optimisation profiles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.errors import BundleMismatch

if TYPE_CHECKING:
    import onnx

MIN_OPSET = 13  # per-channel Q/DQ (the `axis` attribute) needs opset 13
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
# The weight input's output-channel axis of each weighted operator TensorRT fuses with Q/DQ.
WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1, "Gemm": 0}


class TensorRTRuleViolation(BundleMismatch):
    """An ONNX graph that breaks a rule TensorRT enforces."""


@dataclass
class RuleReport:
    """What the checker found: `violations` (each a sentence) and counts that describe the Q/DQ placement."""

    violations: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for the manifest's checks and the report."""
        counts = self.counts
        head = f"TensorRT rules hold: opset {counts['opset']}, static shapes"
        if not counts["qdq"]:
            return f"{head}, a float graph (no Q/DQ)"
        return (f"{head}, {counts['qdq']} Q/DQ nodes all int8 with zero point 0, {counts['per_channel_weights']} "
                f"per-channel weights, no quantized bias, {counts['residual_adds_quantized']} of "
                f"{counts['residual_adds']} residual Adds with Q/DQ on both inputs")


def _initializers(graph: Any) -> dict[str, Any]:
    return {init.name: init for init in graph.initializer}


def _producers(graph: Any) -> dict[str, Any]:
    return {out: node for node in graph.node for out in node.output}


def _attribute(node: Any, name: str, default: int) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default


def _dims(value_info: Any) -> list[Any]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _check_static(graph: Any, report: RuleReport) -> None:
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for value in values:
            dims = _dims(value)
            if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
                report.violations.append(f"graph {kind} '{value.name}' has dynamic or unknown dims {dims}")


def _check_qdq_node(node: Any, inits: dict[str, Any], report: RuleReport) -> None:
    """Zero point present, int8 and 0; a per-tensor scale for activations (weights are checked per operator)."""
    from onnx import TensorProto, numpy_helper

    report.counts["qdq"] += 1
    if len(node.input) < 3 or not node.input[2]:
        report.violations.append(f"{node.op_type} '{node.name}' has no zero point (it then defaults to uint8)")
        return
    zero_point = inits.get(node.input[2])
    if zero_point is None:
        report.violations.append(f"{node.op_type} '{node.name}' has a computed zero point, not a constant")
        return
    if zero_point.data_type != TensorProto.INT8:
        kind = TensorProto.DataType.Name(zero_point.data_type).lower()
        report.violations.append(f"{node.op_type} '{node.name}' uses {kind}, TensorRT takes int8 only")
    if numpy_helper.to_array(zero_point).any():
        report.violations.append(f"{node.op_type} '{node.name}' has a non-zero zero point (asymmetric)")


def _check_weighted(node: Any, inits: dict[str, Any], producers: dict[str, Any], per_channel: bool,
                    report: RuleReport) -> None:
    """The weight's DequantizeLinear is per output channel (when asked); the bias is not quantized."""
    from onnx import numpy_helper

    weight_dq = producers.get(node.input[1]) if len(node.input) > 1 else None
    if weight_dq is not None and weight_dq.op_type == "DequantizeLinear":
        scale = inits.get(weight_dq.input[1])
        weight = inits.get(weight_dq.input[0])
        size = 1 if scale is None else numpy_helper.to_array(scale).size
        axis = _attribute(weight_dq, "axis", 1)
        want_axis = WEIGHT_AXIS[node.op_type]
        channels = None if weight is None else list(weight.dims)[want_axis]
        if size == 1 and per_channel and (channels or 0) > 1:
            report.violations.append(f"{node.op_type} '{node.name}' has per-tensor weight scales where per-channel "
                                     "was asked")
        elif size > 1 and (axis != want_axis or size != channels):
            report.violations.append(f"{node.op_type} '{node.name}' weight scales run along axis {axis} "
                                     f"({size} of them), not the output-channel axis {want_axis} ({channels})")
        elif size > 1:
            report.counts["per_channel_weights"] += 1
    if len(node.input) > 2 and node.input[2]:
        bias_source = producers.get(node.input[2])
        if bias_source is not None and bias_source.op_type == "DequantizeLinear":
            report.violations.append(f"{node.op_type} '{node.name}' has a quantized bias (TensorRT keeps biases "
                                     "float)")


def _check_residual_add(node: Any, inits: dict[str, Any], producers: dict[str, Any], report: RuleReport) -> None:
    """Count Adds of two activations, and those with Q/DQ on both inputs (what lets TensorRT fuse the Add into
    the convolution before it)."""
    activations = [name for name in node.input if name not in inits and name in producers]
    if len(activations) != 2:
        return
    report.counts["residual_adds"] += 1
    if all(producers[name].op_type == "DequantizeLinear" for name in activations):
        report.counts["residual_adds_quantized"] += 1


def check_model(model: onnx.ModelProto, per_channel: bool = True) -> RuleReport:
    """Every TensorRT rule `model` breaks (non-zero or uint8 zero points, quantized bias, per-tensor weights
    where `per_channel` is asked, dynamic dims, an opset below 13), with Q/DQ placement counts."""
    graph = model.graph
    report = RuleReport()
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    report.counts["opset"] = opset
    if opset < MIN_OPSET:
        report.violations.append(f"opset {opset} is below {MIN_OPSET} (per-channel Q/DQ needs it)")
    _check_static(graph, report)
    inits, producers = _initializers(graph), _producers(graph)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            report.violations.append(f"node '{node.name}' uses the custom domain '{node.domain}'")
        elif node.op_type in QDQ_OPS:
            _check_qdq_node(node, inits, report)
        elif node.op_type in WEIGHT_AXIS:
            _check_weighted(node, inits, producers, per_channel, report)
        elif node.op_type == "Add":
            _check_residual_add(node, inits, producers, report)
    return report


def require_tensorrt_rules(path: Any, per_channel: bool = True) -> RuleReport:
    """The rule report of the ONNX file at `path`; TensorRTRuleViolation (one line, the first rule broken and how
    many more) when it breaks any."""
    import onnx

    report = check_model(onnx.load(str(path)), per_channel)
    if report.violations:
        more = len(report.violations) - 1
        suffix = f" (and {more} more violation{'s' if more > 1 else ''})" if more else ""
        raise TensorRTRuleViolation(f"{path}: not buildable as TensorRT explicit quantization: "
                                    f"{report.violations[0]}{suffix}")
    return report
