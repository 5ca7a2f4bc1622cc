"""ai-edge-quantizer recipes applied to a float .tflite: static int8 (int8 weights and activations, calibrated),
dynamic-range int8 (int8 weights, activations quantized on the fly by the kernels) and float16 weights.

Static int8 activation ranges are the min and max over the whole calibration set. ai-edge-quantizer's own
`calibrate` merges samples with an exponential moving average (0.95), so its ranges follow the last few samples
and clip the others: on a trained MiDaS-small student that cost 8.5 dB of PSNR against fp32 (28.3 vs 36.8 dB on
held-out scenes). Each sample is therefore calibrated on its own and the ranges merged with `min_max_update`.

An activation whose calibrated range is (nearly) zero, a ReLU path a trained model no longer uses, gets the
minimum range of `quantize.ranges`: with the quantizer's own epsilon its scale was 4e-12 and XNNPACK refused the
whole model. The manifest lists the tensors raised (`floored_ranges`).

Static int8 keeps float32 model I/O by default (one QUANTIZE after the input, one DEQUANTIZE before the output),
so the same float feed runs every precision. int16 activations (`static_wi8_ai16`) are not offered: XNNPACK has
no kernels for them and the interpreter falls back to reference kernels (well under 1 FPS at 256²).
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from quantize.ranges import floor_ranges, floored, range_width
from runtime.threads import capped_threads

# ai-edge-quantizer's recipes, by its own names; which precision each writes is `quantize.registry`'s to say.
STATIC_INT8, DYNAMIC_INT8, FLOAT16 = "static_wi8_ai8", "dynamic_wi8_afp32", "float_casting"
RECIPES = (STATIC_INT8, DYNAMIC_INT8, FLOAT16)
# XNNPACK's int8 ADD needs each input's scale at least 2^-10 of the output's; one power of two of margin.
ADD_INPUT_RATIO = 2.0**-9
# litert-torch names the single signature of a converted module this way.
SIGNATURE = "serving_default"


def _recipe_quantizer(model: bytes, recipe_name: str, float_io: bool) -> tuple[Any, dict[str, Any]]:
    """An ai-edge-quantizer Quantizer loaded with the recipe `recipe_name`, and the manifest's description of it."""
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    every_op = qtyping.TFLOperationName.ALL_SUPPORTED
    q = quantizer.Quantizer(bytearray(model))
    if recipe_name == FLOAT16:
        q.add_weight_only_config(regex=".*", operation_name=every_op, num_bits=16,
                                 algorithm_key=AlgorithmName.FLOAT_CASTING)
        return q, {"method": "ai-edge-quantizer float_casting", "weights": "float16",
                   "activations": "float32", "io": "float32"}
    if recipe_name == DYNAMIC_INT8:
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        return q, {"method": "ai-edge-quantizer dynamic_wi8_afp32", "weights": "int8 per-channel symmetric",
                   "activations": "float32, quantized to int8 per call by the kernels", "io": "float32"}
    if recipe_name == STATIC_INT8:
        q.load_quantization_recipe(recipe.static_wi8_ai8())
        # A ReLU that is not fused into the op before it (a residual unit's first activation: its input also feeds
        # the skip) has no int8 XNNPACK kernel: quantized, it splits the graph into several delegate partitions
        # with LiteRT's own kernels between them. Kept float (dequantize → ReLU → quantize), XNNPACK takes it all.
        q.update_quantization_recipe(regex=".*", operation_name=qtyping.TFLOperationName.RELU,
                                     algorithm_key=AlgorithmName.NO_QUANTIZE)
        if float_io:
            for end in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                q.update_quantization_recipe(regex=".*", operation_name=end, algorithm_key=AlgorithmName.NO_QUANTIZE)
        return q, {"method": "ai-edge-quantizer static_wi8_ai8", "weights": "int8 per-channel symmetric",
                   "activations": "int8 per-tensor asymmetric (min/max over the calibration set); unfused ReLUs "
                                  "float",
                   "io": "float32" if float_io else "int8"}
    raise ValueError(f"ai-edge-quantizer recipes: {', '.join(RECIPES)}, not '{recipe_name}'")


def quantize_tflite(model: bytes, recipe_name: str, input_name: str | list[str], calibration: list | None = None,
                    float_io: bool = True, threads: int | None = None) -> tuple[bytes, dict[str, Any]]:
    """Quantize a float .tflite flatbuffer with one of `RECIPES`; returns the new flatbuffer and its manifest entry.

    `calibration` (static int8 only) holds inputs already in the model's input layout; `float_io=False` makes
    static int8 fully integer (int8 input and output tensors with their own scale and zero point).
    """
    if recipe_name == STATIC_INT8 and not calibration:
        raise ValueError("static int8 needs calibration inputs")
    q, entry = _recipe_quantizer(model, recipe_name, float_io)
    # Both calls print progress bars and a size report, and calibration warns that it keeps every tensor (it must,
    # to see each activation's range); the manifest entry says what was done.
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranges = None
        if recipe_name == STATIC_INT8:
            ranges = global_ranges(q, input_name, calibration or [], threads or os.cpu_count() or 1)
            entry["calibration_samples"] = len(calibration or [])
            entry["ranges"] = "min/max over all calibration samples"
            entry["floored_ranges"] = sorted(apply_range_floor(ranges))
            entry["widened_add_inputs"] = sorted(apply_add_rule(model, ranges))
        result = q.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model), entry


def global_ranges(q: Any, input_name: str | list[str], calibration: list, threads: int) -> dict[str, Any]:
    """Per-tensor min/max over every calibration input (one `calibrate` call per input, merged by min/max)."""
    from ai_edge_quantizer.utils.qsv_utils import min_max_update

    from quantize.calibration import as_feeds

    ranges: dict[str, Any] = {}
    for feed in as_feeds(calibration, input_name):
        for tensor, qsv in q.calibrate({SIGNATURE: [feed]}, num_threads=capped_threads(threads)).items():
            ranges[tensor] = min_max_update(ranges.get(tensor, {}), qsv)
    return ranges


def _per_tensor(ranges: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """{tensor: (min, max)} for the per-tensor activation ranges of ai-edge-quantizer's calibration result."""
    return {name: (float(np.min(qsv["min"])), float(np.max(qsv["max"]))) for name, qsv in ranges.items()
            if "min" in qsv and "max" in qsv and np.size(qsv["min"]) == 1 and np.size(qsv["max"]) == 1}


def _raise(ranges: dict[str, Any], raised: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Write the widened (min, max) of `raised` into the calibration result in place; returns `raised`."""
    for name, (low, high) in raised.items():
        qsv = ranges[name]
        qsv["min"] = np.full_like(qsv["min"], low)
        qsv["max"] = np.full_like(qsv["max"], high)
    return raised


def apply_range_floor(ranges: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Raise every per-tensor activation range narrower than the model's floor (`quantize.ranges`) in place;
    returns {tensor: new (min, max)} for the ones raised."""
    return _raise(ranges, floor_ranges(_per_tensor(ranges)))


def apply_add_rule(model: bytes, ranges: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Widen each ADD input whose range is under ADD_INPUT_RATIO of the sum's, in place: XNNPACK adds int8 tensors
    only when each input's scale is at least 2^-10 of the output's, and runs a refused ADD outside its graph (a
    second delegate partition, LiteRT's own kernels between). Such an input moves the sum by less than a quarter
    of the sum's own step, so the wider range costs nothing. Returns {tensor: new (min, max)}."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=bytes(model),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    known = _per_tensor(ranges)
    raised: dict[str, tuple[float, float]] = {}
    for op in interpreter._get_ops_details():
        out = names.get(op["outputs"][0]) if op["op_name"] == "ADD" and len(op["outputs"]) else None
        if out not in known:
            continue
        least = range_width(*known[out]) * ADD_INPUT_RATIO
        for index in op["inputs"]:
            name = names.get(index)
            widened = floored(*raised.get(name, known[name]), least) if name in known else None
            if widened is not None:
                raised[name] = widened
    return _raise(ranges, raised)


def quantize_file(src: Path, dst: Path, calibration: list, input_names: list[str], recipe: str) -> dict[str, Any]:
    """The registry's calling convention: the .tflite `src` through `recipe` into `dst` (float I/O)."""
    from runtime.atomic import atomic_file

    model, entry = quantize_tflite(Path(src).read_bytes(), recipe, input_names, calibration or None)
    with atomic_file(Path(dst)) as tmp:
        tmp.write_bytes(model)
    return entry
