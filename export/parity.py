"""Export-time parity: every artifact is compared with its torch original on the same inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from export.precision import Precision
from quantize.calibration import item_arrays
from runtime.bundle import Bundle
from runtime.metrics import agreement
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


def torch_vs_bundle(model: nn.Module, bundle: Bundle, inputs: list, threads: int = 2) -> dict:
    """Worst-case agreement of a bundle's outputs with the torch model's over `inputs` (NCHW arrays, or tuples
    of them for several inputs, in the bundle's input order)."""
    out_name = bundle.outputs[0]["name"]
    worst: dict | None = None
    runner = runner_for_format(bundle.format)()
    runner.load(bundle, threads)
    try:
        for item in inputs:
            arrays = item_arrays(item)
            with torch.no_grad():
                ref = model(*(torch.from_numpy(x) for x in arrays)).numpy()
            feed = {spec["name"]: x if spec["layout"] == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
                    for spec, x in zip(bundle.inputs, arrays, strict=True)}
            got = runner.infer(feed)[out_name]
            stats = agreement(ref, got.reshape(ref.shape))
            if worst is None or stats["max_abs_rel"] > worst["max_abs_rel"]:
                worst = stats
    finally:
        runner.close()
    return {"vs": "torch-fp32", "inputs": len(inputs), **(worst or {})}
