"""The torch fp32 student as a Runner: the reference every exported artifact is compared and timed against."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, load_student
from edgedepth.specs import input_names, input_spec, input_specs, output_spec
from runtime.runners.base import Runner


class TorchRunner(Runner):
    """Runs an edgedepth student checkpoint in eager PyTorch (fp32, CPU, channels_last) at a fixed thread count."""

    name = "torch"
    formats = ("torch",)

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = Path(checkpoint)
        self.model: torch.nn.Module | None = None
        self.info: StudentInfo | None = None
        self.init_ms = 0.0

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, ""

    def load(self, bundle: object = None, threads: int = 2) -> None:
        """Set the thread count and build the model; `bundle` is unused (a checkpoint is not a bundle)."""
        torch.set_num_threads(threads)
        start = time.perf_counter()
        self.model, self.info = load_student(self.checkpoint)
        # channels_last is eager PyTorch's fastest CPU layout for these depthwise/pointwise convolutions
        # (about 15 % here): the baseline every speed-up is quoted against should be the best eager setting.
        self.model.to(memory_format=torch.channels_last)
        self.init_ms = (time.perf_counter() - start) * 1000.0

    @property
    def input_spec(self) -> dict:
        """The input spec of the checkpoint, as an exported bundle's manifest would state it."""
        assert self.info is not None, "load() first"
        return input_spec(self.info)

    @property
    def input_specs(self) -> list[dict]:
        """Every input spec, in the order the model takes them (one for mono, left and right for stereo)."""
        assert self.info is not None, "load() first"
        return input_specs(self.info)

    @property
    def output_spec(self) -> dict:
        assert self.info is not None, "load() first"
        return output_spec(self.info)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.model is not None, "load() first"
        with torch.inference_mode():
            tensors = [torch.from_numpy(np.ascontiguousarray(inputs[name])) for name in input_names(self.info)]
            out = self.model(*(x.contiguous(memory_format=torch.channels_last) for x in tensors))
        return {self.output_spec["name"]: np.ascontiguousarray(out.numpy())}

    def close(self) -> None:
        self.model = None
