"""TensorRT on an NVIDIA GPU or Jetson: builds the engine from the bundle's model.onnx (or loads the one built
before, cached per model, GPU and TensorRT version), binds device buffers with cuda-python as TensorRT's own
samples do (no torch), and runs it on one CUDA stream.

TensorRT 11 builds only strongly typed networks (precision from the graph's types and Q/DQ); TensorRT 10 builds
weakly typed ones here, with the precision flags build_engine.sh's `weakly` mode uses, which lets the layers
left in float run in fp16. Set EDGEDEPTH_TRT_TYPED=1 to build strongly typed on TensorRT 10 too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from runtime.atomic import atomic_file
from runtime.bundle import Bundle
from runtime.errors import BundleMismatch
from runtime.runners.base import Runner
from runtime.runners.registry import register_runner

WORKSPACE_BYTES = 1 << 30


def _cudart() -> Any:
    """cuda-python's runtime module (cuda.bindings.runtime from 12.6 on, cuda.cudart before)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart
    return cudart


def _check(result: Any) -> Any:
    """cuda-python returns (error, values...): raise on an error, else the value(s)."""
    cudart = _cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error}: {cudart.cudaGetErrorString(error)[1].decode(errors='replace')}")
    return values[0] if len(values) == 1 else values


def engine_cache_dir() -> Path:
    """Where built engines are kept: $EDGEDEPTH_CACHE/tensorrt or ~/.cache/edgedepth/tensorrt."""
    root = os.environ.get("EDGEDEPTH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "edgedepth") / "tensorrt"


def jetson_power_mode() -> str | None:
    """The Jetson power mode (`nvpmodel -q`'s first line) when nvpmodel is present, else None."""
    if shutil.which("nvpmodel") is None:
        return None
    try:
        result = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[0] if lines else None


@register_runner
class TensorRTRunner(Runner):
    """Runs TensorRT bundles on the first CUDA GPU."""

    name = "tensorrt"
    formats = ("tensorrt",)
    requires = ("tensorrt", "cuda")
    install_hint = "JetPack's python3-libnvinfer, or pip install tensorrt cuda-python on a machine with a GPU"

    def __init__(self) -> None:
        self.bundle: Bundle | None = None
        self.init_ms = 0.0
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._buffers: dict[str, tuple[Any, np.ndarray]] = {}
        self._info: dict[str, Any] = {}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok, reason = super().available()
        if not ok:
            return ok, reason
        try:
            count = _check(_cudart().cudaGetDeviceCount())
        except Exception as exc:  # no driver, or a driver too old for this cuda-python
            return False, f"tensorrt needs an NVIDIA GPU: {str(exc).splitlines()[0] if str(exc) else exc}"
        if not count:
            return False, "tensorrt needs an NVIDIA GPU; CUDA sees none here"
        return True, ""

    def strongly_typed(self, version: str) -> bool:
        """Strongly typed on TensorRT 11 and later (the only mode there), or when EDGEDEPTH_TRT_TYPED=1."""
        return int(version.split(".")[0]) >= 11 or os.environ.get("EDGEDEPTH_TRT_TYPED") == "1"

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Build or load the engine, then allocate one device buffer per I/O tensor."""
        import tensorrt as trt

        cudart = _cudart()
        props = _check(cudart.cudaGetDeviceProperties(0))
        gpu = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        typed = self.strongly_typed(trt.__version__)
        self._info = {"tensorrt": trt.__version__, "gpu": gpu, "compute_capability": f"{props.major}.{props.minor}",
                      "build": "strongly typed" if typed else "weakly typed"}
        power = jetson_power_mode()
        if power:
            self._info["jetson_power_mode"] = power
        logger = trt.Logger(trt.Logger.WARNING)
        plan = self._engine_plan(trt, logger, bundle, typed)
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
        if self._engine is None:
            raise BundleMismatch(f"bundle {bundle.name}: TensorRT could not deserialize the engine it built")
        self._context = self._engine.create_execution_context()
        self._stream = _check(cudart.cudaStreamCreate())
        self._bind(trt, bundle)

    def _engine_plan(self, trt: Any, logger: Any, bundle: Bundle, typed: bool) -> bytes:
        """The serialized engine: from the cache when this model, GPU and TensorRT built it before, else built."""
        digest = hashlib.sha256(Path(bundle.model_path).read_bytes()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self._info["gpu"]).strip("-").lower()
        key = f"{digest}-{bundle.precision}-{'typed' if typed else 'weak'}-trt{trt.__version__}-{slug}-" \
              f"sm{self._info['compute_capability'].replace('.', '')}.engine"
        cached = engine_cache_dir() / key
        if cached.is_file():
            self._info["engine"] = "cached"
            return cached.read_bytes()
        plan = self._build(trt, logger, bundle, typed)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(cached) as tmp:
            Path(tmp).write_bytes(plan)
        self._info["engine"] = "built"
        return plan

    def _build(self, trt: Any, logger: Any, bundle: Bundle, typed: bool) -> bytes:
        builder = trt.Builder(logger)
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(bundle.model_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BundleMismatch(f"bundle {bundle.name}: TensorRT cannot parse model.onnx: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if not typed and bundle.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if not typed and bundle.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BundleMismatch(f"bundle {bundle.name}: TensorRT could not build an engine (see its log above)")
        return bytes(plan)

    def _bind(self, trt: Any, bundle: Bundle) -> None:
        """A device buffer and a host array per I/O tensor; names and input shapes must match the manifest."""
        cudart = _cudart()
        declared = {spec["name"]: spec for spec in [*bundle.inputs, *bundle.outputs]}
        for index in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(index)
            if name not in declared:
                raise BundleMismatch(f"bundle {bundle.name}: engine tensor '{name}' is not in the manifest")
            shape = tuple(self._engine.get_tensor_shape(name))
            host = np.empty(shape, dtype=trt.nptype(self._engine.get_tensor_dtype(name)))
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            if is_input and list(shape) != list(declared[name]["shape"]):
                raise BundleMismatch(f"bundle {bundle.name}: engine input '{name}' is {list(shape)}, the manifest "
                                     f"declares {declared[name]['shape']}")
            device = _check(cudart.cudaMalloc(host.nbytes))
            self._context.set_tensor_address(name, int(device))
            self._buffers[name] = (device, host)

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy inputs in, enqueue, copy outputs back, wait: one synchronous inference."""
        cudart = _cudart()
        kinds = cudart.cudaMemcpyKind
        for name, array in feed.items():
            device, host = self._buffers[name]
            np.copyto(host, array, casting="same_kind")
            _check(cudart.cudaMemcpyAsync(device, host.ctypes.data, host.nbytes, kinds.cudaMemcpyHostToDevice,
                                          self._stream))
        if not self._context.execute_async_v3(self._stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        outputs = {}
        for spec in self.bundle.outputs if self.bundle else []:
            device, host = self._buffers[spec["name"]]
            _check(cudart.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes, kinds.cudaMemcpyDeviceToHost,
                                          self._stream))
            outputs[spec["name"]] = host
        _check(cudart.cudaStreamSynchronize(self._stream))
        return {name: np.array(host, dtype=np.float32) for name, host in outputs.items()}

    def device_info(self) -> dict[str, Any]:
        return dict(self._info)

    def close_impl(self) -> None:
        if self._buffers or self._stream is not None:
            cudart = _cudart()
            for device, _ in self._buffers.values():
                cudart.cudaFree(device)
            if self._stream is not None:
                cudart.cudaStreamDestroy(self._stream)
        self._buffers, self._stream, self._context, self._engine = {}, None, None, None
