"""Any single-image ONNX depth model (the `onnx:` teacher) as an original: its graph re-targeted to the bundle
contract (one fixed-size float32 NCHW input, one 1×h×w float32 output), so the file reaches ONNX fp16/int8,
OpenVINO and TensorRT-rule ONNX as networks edgedepth builds do. Each rewrite is checked against the file itself
in onnxruntime before anything is exported; formats whose converters start from torch cannot take it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.originals.base import Original, OriginalError
from edgedepth.originals.onnx_graph import ELEMENT_TYPES, GraphInterface, OnnxGraphModule, name_nodes, prune_to
from edgedepth.specs import INPUT_NAME, OUTPUT_NAME
from edgedepth.teachers.onnx_model import ONNXDepthTeacher, parse_size, teacher_map
from runtime.errors import one_line

FAMILY = "onnx"
SIZE_KEYWORD = "size"
# The rewrite must reproduce the file's own output to this fraction of its range (both run in onnxruntime fp32).
MAX_REWRITE_ERROR = 1e-5
# Per-channel Q/DQ (onnxruntime's int8, TensorRT's rules) needs opset 13: older files are converted to it.
MIN_OPSET = 13


def teacher_args(args: dict[str, Any], size: tuple[int, int] | None) -> dict[str, Any]:
    """The teacher's keywords with the export size (`--size`) as its `size`; one line when both are given and
    disagree. A file with a static input checks the size itself."""
    if size is None:
        return args
    given = args.get(SIZE_KEYWORD)
    if given is not None and parse_size(given) != tuple(size):
        raise OriginalError(f"onnx: --size {size[0]}x{size[1]} disagrees with --teacher-arg size={given}")
    return {**args, SIZE_KEYWORD: f"{size[0]}x{size[1]}"}


def _feed_shape(teacher: ONNXDepthTeacher) -> list[int]:
    height, width = teacher.input_size
    return [1, 3, height, width] if teacher.layout == "NCHW" else [1, height, width, 3]


def _run_file(teacher: ONNXDepthTeacher, image_nchw: np.ndarray) -> np.ndarray:
    """The file's chosen output on one float32 NCHW image, fed as the file takes it (layout, dtype)."""
    feed = image_nchw if teacher.layout == "NCHW" else image_nchw.transpose(0, 2, 3, 1)
    feed = np.ascontiguousarray(feed).astype(teacher.input_dtype)
    where = Path(teacher.path).name
    height, width = teacher.input_size
    try:
        return np.asarray(teacher.session.run([teacher.output_name], {teacher.input_name: feed})[0])
    except Exception as exc:  # onnxruntime raises its own types for shapes a graph cannot take
        raise OriginalError(f"onnx: {where} does not run at {height}x{width}: {one_line(exc, 200)}") from None


def _interface(teacher: ONNXDepthTeacher, probe: np.ndarray) -> GraphInterface:
    """The file's input and output as the contract rewrite needs them, its output read from one run."""
    out = _run_file(teacher, probe)
    where = Path(teacher.path).name
    types = {np.dtype(name): code for name, code in ELEMENT_TYPES.items()}
    if out.dtype not in types:
        raise OriginalError(f"onnx: {where} output '{teacher.output_name}' is {out.dtype}, not a float depth map")
    out_h, out_w = teacher_map(out, teacher.output_name).shape
    return GraphInterface(teacher.input_name, teacher.layout, ELEMENT_TYPES[teacher.input_dtype],
                          teacher.input_size, teacher.output_name, types[out.dtype], tuple(out.shape),
                          (out_h, out_w))


def _rewrites(teacher: ONNXDepthTeacher, interface: GraphInterface, pruned: bool, named: int) -> list[str]:
    """What the contract changes in the file's graph, in the manifest's words."""
    height, width = interface.size
    rewrites = []
    if not all(isinstance(d, int) for d in teacher.session.get_inputs()[0].shape):
        rewrites.append(f"input size fixed to {height}x{width}")
    if interface.layout == "NHWC":
        rewrites.append("NHWC input transposed (an NCHW bundle's input feeds it through a Transpose)")
    if teacher.input_dtype != "float32":
        rewrites.append(f"input cast from float32 to {teacher.input_dtype}")
    if pruned:
        rewrites.append(f"outputs other than '{interface.output_name}' pruned")
    if named:
        rewrites.append(f"{named} unnamed node(s) named (quantizers keep nodes float by name)")
    if interface.output_type != ELEMENT_TYPES["float32"]:
        rewrites.append("output cast to float32")
    if list(interface.output_shape) != [1, *interface.output_size]:
        rewrites.append(f"output reshaped from {list(interface.output_shape)} to [1, {interface.output_size[0]}, "
                        f"{interface.output_size[1]}]")
    return rewrites


def _upgrade_opset(model: Any) -> tuple[Any, str | None]:
    """The model at MIN_OPSET when its default-domain opset is older and onnx's version converter takes it, with
    the rewrite's words; else the model as it is (the int8 and TensorRT rows then say why they fail)."""
    from onnx import version_converter

    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), MIN_OPSET)
    if opset >= MIN_OPSET:
        return model, None
    try:
        upgraded = version_converter.convert_version(model, MIN_OPSET)
    except Exception:  # the converter raises its own types for ops it has no adapter for
        return model, None
    return upgraded, f"opset converted from {opset} to {MIN_OPSET} (per-channel int8 and TensorRT need it)"


def _check_rewrite(teacher: ONNXDepthTeacher, module: OnnxGraphModule, probe: np.ndarray) -> None:
    """The contract graph gives the file's own output on `probe`, or the rewrite is a bug (said in one line)."""
    import torch

    want = teacher_map(_run_file(teacher, probe), teacher.output_name)
    with torch.no_grad():
        got = module(torch.from_numpy(probe)).numpy()
    span = float(np.nanmax(want) - np.nanmin(want)) or 1.0
    if got.shape != (1, *want.shape) or not np.allclose(got[0], want, rtol=0, atol=MAX_REWRITE_ERROR * span,
                                                        equal_nan=True):
        raise OriginalError(f"onnx: the contract rewrite of {Path(teacher.path).name} changed its output")


def build(teacher: ONNXDepthTeacher, spec: str, size: tuple[int, int] | None) -> Original:
    """The file's graph at the teacher's fixed size, as an Original whose module holds it (see onnx_graph)."""
    import onnx

    if teacher.keep_aspect:
        raise OriginalError("onnx: keep_aspect=true (fit inside the input, edge-pad) is not a bundle's "
                            "preprocessing: a bundle stretches the photo to its input; export with keep_aspect=false")
    if size is not None and tuple(size) != teacher.input_size:
        raise OriginalError(f"onnx: {Path(teacher.path).name} takes {teacher.input_size[0]}x{teacher.input_size[1]}"
                            f" images, not {size[0]}x{size[1]}")
    probe = np.clip(np.random.default_rng(0).normal(0, 1, [1, 3, *teacher.input_size]), -2.5, 2.5)
    probe = probe.astype(np.float32)
    interface = _interface(teacher, probe)
    model = onnx.load(teacher.path)
    pruned = prune_to(model, interface.output_name)
    named = name_nodes(model)
    model, upgraded = _upgrade_opset(model)
    module = OnnxGraphModule(model.SerializeToString(), interface, INPUT_NAME, OUTPUT_NAME)
    _check_rewrite(teacher, module, probe)
    output_size = None if interface.output_size == interface.size else interface.output_size
    rewrites = _rewrites(teacher, interface, pruned, named) + ([upgraded] if upgraded else [])
    return Original(FAMILY, spec, module.eval(), "mono", interface.size, teacher.mean, teacher.std, teacher.kind,
                    teacher.sha256, teacher.identity(), rewrites=rewrites, output_size=output_size)
