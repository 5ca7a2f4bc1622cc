"""Any single-image ONNX depth model as a mono teacher, run by onnxruntime on the CPU.

The model's meaning is declared, never guessed: `kind` is relative_inverse_depth or metric_depth. Input:
RGB / 255, then (x − mean) / std, resized (bilinear, area when shrinking by more than 2×) to the model's
static H×W or to `size`; with `keep_aspect` the image is fitted inside H×W and edge-padded evenly, and the
padding is cropped off the output. Output: the named output (or the first), one map, resized back bilinearly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.teachers.base import MONO_KINDS, Prediction, Teacher, dense_prediction
from edgedepth.teachers.registry import TeacherConfigError
from runtime.bundle import LAYOUTS, sha256_file
from runtime.preprocess import output_map, prepare_input
from runtime.threads import capped_threads

_INPUT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


def parse_size(size: str | list[int] | tuple[int, int] | None) -> tuple[int, int] | None:
    """(h, w) from "HxW" or [h, w]; None stays None; anything else fails in one line."""
    if size is None:
        return None
    if isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", size)
        values = [int(match.group(1)), int(match.group(2))] if match else []
    else:
        values = list(size) if isinstance(size, list | tuple) else []
    if len(values) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in values):
        raise TeacherConfigError(f"onnx: size must be 'HxW' or [h, w] with positive integers, got {size!r}")
    return int(values[0]), int(values[1])


def _triple(values: Any, what: str) -> tuple[float, float, float]:
    """Three per-channel floats (mean or std), checked in one line."""
    try:
        triple = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        triple = ()
    if len(triple) != 3 or (what == "std" and min(triple) <= 0):
        raise TeacherConfigError(f"onnx: {what} must be three numbers{' above 0' if what == 'std' else ''}, "
                                 f"got {values!r}")
    return triple[0], triple[1], triple[2]


def pad_amounts(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding from height × width to target_h × target_w, split evenly."""
    pad_h, pad_w = target_h - height, target_w - width
    return pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2


def teacher_map(arr: np.ndarray, name: str) -> np.ndarray:
    """One H×W float32 map from a teacher's output (`runtime.preprocess.output_map`'s rule: batch and channel axes
    of size 1 dropped), at least 2×2; anything else fails in one line naming the output."""
    shape = list(np.shape(arr))
    try:
        arr = output_map(arr)
    except ValueError:
        arr = np.zeros((0, 0))
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise EdgeDepthError(f"onnx: output '{name}' has shape {shape}, not one depth map "
                             "(expected H×W, 1×H×W, 1×1×H×W or 1×H×W×1)")
    return arr.astype(np.float32)


def _session(path: Path, threads: int) -> Any:
    """A CPU onnxruntime session with fixed intra-op threads, sequential execution, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = capped_threads(int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for protobuf and graph errors
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise EdgeDepthError(f"onnx: {path} is not a loadable ONNX model: {message}") from exc


class ONNXDepthTeacher(Teacher):
    """A depth model from any zoo, exported to ONNX, as a teacher; what it predicts is declared with `kind`.

    `size` ("HxW" or [h, w]) is required when the model's input H×W is dynamic and must agree with a static one;
    `layout` is the input's (NCHW or NHWC); `output` names the output to use (default: the first);
    `threads` is onnxruntime's intra-op thread count (1 when not given).
    """

    name = "onnx"
    backend = "onnxruntime"

    def __init__(
        self,
        path: str,
        kind: str | None = None,
        size: str | list[int] | None = None,
        mean: Any = IMAGENET_MEAN,
        std: Any = IMAGENET_STD,
        layout: str = "NCHW",
        threads: int | None = None,
        output: str | None = None,
        keep_aspect: bool = False,
    ) -> None:
        if kind is None:
            raise TeacherConfigError(f"onnx: declare what the model predicts with kind= ({' or '.join(MONO_KINDS)})")
        if kind not in MONO_KINDS:
            raise TeacherConfigError(f"onnx: kind must be one of {', '.join(MONO_KINDS)}, got {kind!r}")
        if layout not in LAYOUTS:
            raise TeacherConfigError(f"onnx: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if threads is not None and threads < 1:
            raise TeacherConfigError(f"onnx: threads must be at least 1, got {threads}")
        self.path = str(path)
        self.kind = kind
        self.size = parse_size(size)
        self.mean = _triple(mean, "mean")
        self.std = _triple(std, "std")
        self.layout = layout
        self.threads = threads
        self.keep_aspect = bool(keep_aspect)
        model_path = Path(self.path)
        if not model_path.is_file():
            raise EdgeDepthError(f"onnx: model not found: {model_path}")
        self.session = _session(model_path, threads or 1)
        self.input_name, self.input_size, self.input_dtype = self._read_input()
        names = [o.name for o in self.session.get_outputs()]
        if output is not None and output not in names:
            raise TeacherConfigError(f"onnx: {model_path.name} has no output {output!r}; outputs: {', '.join(names)}")
        self.output = output
        self.output_name = output if output is not None else names[0]
        self.sha256 = sha256_file(model_path)

    def _read_input(self) -> tuple[str, tuple[int, int], str]:
        """The image input's name, the H×W it is fed at, and its numpy dtype; unusable inputs fail in one line."""
        inputs = self.session.get_inputs()
        where = Path(self.path).name
        if len(inputs) != 1:
            raise EdgeDepthError(f"onnx: {where} takes {len(inputs)} inputs; a mono teacher feeds one image")
        spec = inputs[0]
        if spec.type not in _INPUT_DTYPES:
            raise EdgeDepthError(f"onnx: {where} input '{spec.name}' is {spec.type}; float inputs are supported")
        shape = list(spec.shape)
        if len(shape) != 4:
            raise EdgeDepthError(f"onnx: {where} input '{spec.name}' has shape {shape}, not an image batch")
        channels, dims = (shape[1], shape[2:4]) if self.layout == "NCHW" else (shape[3], shape[1:3])
        if isinstance(channels, int) and channels != 3:
            other = "NHWC" if self.layout == "NCHW" else "NCHW"
            raise EdgeDepthError(f"onnx: {where} input '{spec.name}' has shape {shape}: not 3 channels in "
                                 f"{self.layout} (layout={other}?)")
        static = all(isinstance(d, int) and d > 0 for d in dims)
        if static and self.size is not None and tuple(dims) != self.size:
            raise TeacherConfigError(f"onnx: {where} takes {dims[0]}x{dims[1]} images, but size is "
                                     f"{self.size[0]}x{self.size[1]}")
        if not static and self.size is None:
            raise TeacherConfigError(f"onnx: {where} input '{spec.name}' has dynamic size {shape}; "
                                     "give size='HxW'")
        size = (int(dims[0]), int(dims[1])) if static else self.size
        return spec.name, size, _INPUT_DTYPES[spec.type]

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("onnx", **params)` rebuilds this teacher."""
        return {"path": self.path, "kind": self.kind, "size": None if self.size is None else list(self.size),
                "mean": list(self.mean), "std": list(self.std), "layout": self.layout, "threads": self.threads,
                "output": self.output, "keep_aspect": self.keep_aspect}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, the declared parameters, the input size, the file's sha256, onnxruntime's version."""
        import onnxruntime

        identity = super().identity()
        identity["params"] = {k: v for k, v in identity["params"].items() if k != "threads"}
        return {**identity, "family": "onnx", "input_size": list(self.input_size), "sha256": self.sha256,
                "onnxruntime": onnxruntime.__version__}

    def _spec(self, height: int, width: int) -> dict[str, Any]:
        """A manifest-style input entry for `prepare_input` at height × width."""
        shape = [1, 3, height, width] if self.layout == "NCHW" else [1, height, width, 3]
        return {"name": self.input_name, "shape": shape, "layout": self.layout, "dtype": self.input_dtype,
                "normalization": {"scale": 1.0 / 255.0, "mean": list(self.mean), "std": list(self.std)}}

    def infer(self, image: np.ndarray) -> np.ndarray:
        """The model's map (float32, at the model's output resolution, padding cropped) for a uint8 RGB image."""
        net_h, net_w = self.input_size
        if not self.keep_aspect:
            feed = prepare_input(image, self._spec(net_h, net_w))
            return teacher_map(self.session.run([self.output_name], {self.input_name: feed})[0], self.output_name)
        height, width = image.shape[:2]
        scale = min(net_h / height, net_w / width)
        fit_h, fit_w = min(net_h, max(1, round(height * scale))), min(net_w, max(1, round(width * scale)))
        top, bottom, left, right = pad_amounts(fit_h, fit_w, net_h, net_w)
        feed = prepare_input(image, self._spec(fit_h, fit_w))
        spatial = [(top, bottom), (left, right)]
        pads = [(0, 0), (0, 0), *spatial] if self.layout == "NCHW" else [(0, 0), *spatial, (0, 0)]
        feed = np.pad(feed, pads, mode="edge")
        out = teacher_map(self.session.run([self.output_name], {self.input_name: feed})[0], self.output_name)
        sy, sx = out.shape[0] / net_h, out.shape[1] / net_w
        y0, y1 = round(top * sy), round((top + fit_h) * sy)
        x0, x1 = round(left * sx), round((left + fit_w) * sx)
        return out[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]

    def predict(self, sample: StereoSample) -> Prediction:
        """The model's map for the left view at its resolution, valid where finite (and > 0 for metric depth)."""
        height, width = sample.left.shape[:2]
        return dense_prediction(self.infer(sample.left), self.kind, height, width)
