"""The torch fp32 student as a Runner: the reference every exported artifact is compared and timed against."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from edgedepth.checkpoint import StudentInfo, load_student
from edgedepth.specs import input_names, input_specs, output_spec, with_resize
from runtime.bundle import Bundle
from runtime.resize import DEFAULT_FILTER
from runtime.rows import STUDENT_REFERENCE
from runtime.runners.base import Runner

TORCH_FORMAT = "torch"


def student_bundle(checkpoint: Path, info: StudentInfo, name: str = STUDENT_REFERENCE,
                   filters: tuple[str, str] = (DEFAULT_FILTER, DEFAULT_FILTER)) -> Bundle:
    """The checkpoint described as a bundle (format "torch", its inputs and output as an export would state
    them, with the resize `filters` an original's bundles name): what the Runner templates check a TorchRunner's
    request and feeds against."""
    manifest = {"name": name, "task": info.task, "format": TORCH_FORMAT, "precision": "fp32",
                "inputs": [with_resize(spec, filters[0]) for spec in input_specs(info)],
                "outputs": [with_resize(output_spec(info), filters[1])], "source": {"model": info.config}}
    return Bundle(path=Path(checkpoint).parent, manifest=manifest, model_path=Path(checkpoint))


class TorchRunner(Runner):
    """Runs an edgedepth student checkpoint in eager PyTorch (fp32, CPU, channels_last) at a fixed thread count.

    `TorchRunner(checkpoint)` reads the checkpoint once; `runner.student` is its description as a bundle, which
    `load` takes like any other runner's (`runner.load(runner.student, threads)`)."""

    name = "torch"
    formats = (TORCH_FORMAT,)

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = Path(checkpoint)
        start = time.perf_counter_ns()
        self.model, self.info = load_student(self.checkpoint)
        self.read_ms = (time.perf_counter_ns() - start) / 1e6
        self.student = student_bundle(self.checkpoint, self.info)
        self.init_ms = 0.0

    @classmethod
    def of_module(cls, model: torch.nn.Module, info: StudentInfo, source: Path, name: str,
                  filters: tuple[str, str] = (DEFAULT_FILTER, DEFAULT_FILTER)) -> TorchRunner:
        """A runner of a model already in memory (an original teacher network), described as `name` with the
        resize `filters` of its bundles; `source` stands for its weights in the bundle description."""
        runner = cls.__new__(cls)
        runner.checkpoint, runner.model, runner.info = Path(source), model, info
        runner.read_ms = runner.init_ms = 0.0
        runner.student = student_bundle(runner.checkpoint, info, name, filters)
        return runner

    def load(self, bundle: Bundle, threads: int = 1) -> None:
        """The Runner template; `init_ms` also counts reading the checkpoint (done once, at construction), as
        the other runners' count reading their model file."""
        super().load(bundle, threads)
        self.init_ms += self.read_ms

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, ""

    def load_impl(self, bundle: Bundle, threads: int) -> None:
        """Set the thread count and put the model in channels_last; only this runner's own checkpoint loads."""
        if bundle.model_path.resolve() != self.checkpoint.resolve():
            raise ValueError(f"this TorchRunner runs {self.checkpoint}, not {bundle.model_path}")
        torch.set_num_threads(threads)  # already capped by Runner.load
        # channels_last is eager PyTorch's fastest CPU layout for these depthwise/pointwise convolutions
        # (about 15 % here): the baseline every speed-up is quoted against should be the best eager setting.
        self.model.to(memory_format=torch.channels_last).eval()

    @property
    def input_specs(self) -> list[dict]:
        """Every input spec, in the order the model takes them (one for mono, left and right for stereo)."""
        return self.student.inputs

    @property
    def input_spec(self) -> dict:
        """The first input spec, as an exported bundle's manifest would state it."""
        return self.student.inputs[0]

    @property
    def output_spec(self) -> dict:
        return self.student.outputs[0]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            tensors = [torch.from_numpy(feed[name]) for name in input_names(self.info)]
            out = self.model(*(x.contiguous(memory_format=torch.channels_last) for x in tensors))
        return {self.output_spec["name"]: np.ascontiguousarray(out.numpy())}
