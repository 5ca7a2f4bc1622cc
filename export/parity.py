"""Export-time parity: every artifact is compared with its torch original on the same inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from export.precision import Precision
from quantize.calibration import item_arrays
from runtime.bundle import Bundle
from runtime.compare import compare_runners
from runtime.runners.base import Runner
from runtime.runners.registry import runner_for_format


def parity_inputs(shape: list[int], count: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs in normalised image space: smooth gradients plus noise, like real pictures."""
    rng = np.random.default_rng(seed)
    inputs = []
    for _ in range(count):
        base = rng.normal(0.0, 1.0, size=(1, *shape[1:])).astype(np.float32)
        inputs.append(np.clip(base, -2.5, 2.5).astype(np.float32))
    return inputs


# fp32 artifacts must agree with torch to this fraction of the output range, or the export is refused.
MAX_FP32_ABS_REL = 1e-3


def reference_inputs(precision: Precision, calibration: list | None, shape: list[int],
                     inputs: int = 1) -> tuple[list, str]:
    """Inputs for an export's parity check and where they come from, as the precision's row says: image-like
    noise, or the last calibration inputs (activation ranges only hold on data like those). A model with several
    inputs gets tuples (one array per input)."""
    if precision.parity_inputs == "calibration":
        if not calibration:
            raise ValueError(f"{precision.name} parity needs the calibration inputs")
        return list(calibration[-2:]), "calibration"
    if inputs == 1:
        return parity_inputs(shape), "synthetic"
    arrays = parity_inputs(shape, count=2 * inputs)
    return [tuple(arrays[i * inputs:(i + 1) * inputs]) for i in range(2)], "synthetic"


def torch_vs_bundle(model: nn.Module, bundle: Bundle, inputs: list, threads: int = 2,
                    runner_cls: type[Runner] | None = None) -> dict:
    """Worst-case agreement of a bundle's outputs with the torch model's over `inputs` (NCHW arrays, or tuples
    of them for several inputs, in the bundle's input order), through `runtime.compare.compare_runners`, run by
    `runner_cls` (default: the runner for the bundle's format)."""
    out_name = bundle.outputs[0]["name"]
    names = [spec["name"] for spec in bundle.inputs]
    nhwc = {spec["name"] for spec in bundle.inputs if spec["layout"] == "NHWC"}

    def as_feed(item: Any) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if name in nhwc else x
                for name, x in zip(names, item_arrays(item), strict=True)}

    def torch_infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [feed[name].transpose(0, 3, 1, 2) if name in nhwc else feed[name] for name in names]
        with torch.no_grad():
            return {out_name: model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in arrays)).numpy()}

    with (runner_cls or runner_for_format(bundle.format))() as runner:
        runner.load(bundle, threads)
        worst = compare_runners(torch_infer, {bundle.name: runner.infer}, (as_feed(item) for item in inputs))
    stats = worst[bundle.name].get(out_name, {})
    if "error" in stats:
        raise ValueError(f"{bundle.name} vs torch: {stats['error']}")
    stats = {k: v for k, v in stats.items() if k not in ("shape", "reshaped")}
    return {"vs": "torch-fp32", "inputs": len(inputs), **stats}
