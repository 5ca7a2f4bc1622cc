"""A quantized artifact is checked on its backend before anyone is told it exists: it must load and run (first in
a child process, since a backend may abort on a model it cannot prepare), and be compared with the fp32 bundle it
came from on the same inputs (the check `export` does against torch)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from quantize.calibration import item_arrays
from runtime.bundle import Bundle, load_bundle
from runtime.compare import compare_runners
from runtime.errors import ArtifactFailed, one_line
from runtime.runners.base import Runner
from runtime.runners.registry import runner_here

# How many inputs the check feeds: the last calibration inputs, or image-like noise when there are none.
CHECK_INPUTS = 2


def check_inputs(fp32: Bundle, calibration: list) -> tuple[list[dict[str, np.ndarray]], str]:
    """Feeds for the check and where they come from: the last calibration items (activation ranges hold on data
    like those), else seeded noise in normalised image space shaped as the bundle's inputs."""
    names = [spec["name"] for spec in fp32.inputs]
    if calibration:
        items = calibration[-CHECK_INPUTS:]
        return [dict(zip(names, (np.ascontiguousarray(a, np.float32) for a in item_arrays(it)), strict=True))
                for it in items], "calibration"
    rng = np.random.default_rng(0)
    feeds = [{spec["name"]: np.clip(rng.normal(0.0, 1.0, size=spec["shape"]), -2.5, 2.5).astype(np.float32)
              for spec in fp32.inputs} for _ in range(CHECK_INPUTS)]
    return feeds, "synthetic"


def run_isolated(bundle: Bundle, runner_cls: type[Runner], threads: int, timeout_s: float = 600.0) -> bool:
    """Load `bundle` in `runner_cls` and run it once on zeros, in a child process: a backend that aborts on a model
    it cannot prepare (XNNPACK does, on some degenerate scales) then costs the child, not this process. The child
    imports the runner class by its module, so a plug-in runner works too; one defined in `__main__` cannot be
    imported there and is not tried (returns False). ArtifactFailed, in one line, when the child fails or dies."""
    if runner_cls.__module__ == "__main__":
        return False
    root = str(Path(__file__).resolve().parents[1])
    path = [root, *(p for p in sys.path if p)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}
    where = f"{runner_cls.__module__}:{runner_cls.__qualname__}"
    args = [sys.executable, "-c", _CHILD, str(bundle.path), where, str(threads)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ArtifactFailed(f"the {bundle.format} {bundle.precision} artifact did not finish one run in "
                             f"{runner_cls.name} within {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("INFO:")]
        why = lines[-1].strip() if lines else "no message"
        if done.returncode < 0:
            why = f"the backend crashed ({signal.Signals(-done.returncode).name}); {why}"
        raise ArtifactFailed(f"the {bundle.format} {bundle.precision} artifact does not run in {runner_cls.name}: "
                             f"{why}")
    return True


def smoke(bundle_dir: str, runner: str, threads: int) -> None:
    """The child's side of `run_isolated`: load the bundle in the runner class `module:qualname` and run it once on
    zeros shaped as its inputs."""
    import importlib

    module, _, qualname = runner.partition(":")
    runner_cls = importlib.import_module(module)
    for part in qualname.split("."):
        runner_cls = getattr(runner_cls, part)
    bundle = load_bundle(bundle_dir)
    feed = {spec["name"]: np.zeros(spec["shape"], np.dtype(spec["dtype"])) for spec in bundle.inputs}
    with runner_cls() as loaded:
        loaded.load(bundle, threads)
        loaded.infer(feed)


_CHILD = "import sys; from quantize.verify import smoke; smoke(sys.argv[1], sys.argv[2], int(sys.argv[3]))"


def check_runs_here(bundle: Bundle, threads: int = 2) -> str | None:
    """`run_isolated` with the runner that can run `bundle` here; returns that runner's name, or None (and checks
    nothing) when no backend for its format is installed on this machine."""
    runner_cls, _ = runner_here(bundle.format)
    if runner_cls is None:
        return None
    run_isolated(bundle, runner_cls, threads)
    return runner_cls.name


def verify_quantized(fp32: Bundle, bundle_dir: Path, calibration: list, threads: int = 2) -> dict[str, Any]:
    """Load the bundle written in `bundle_dir` and the fp32 bundle in the same backend, run both on the same
    inputs, and return the manifest's "parity" entry (agreement with fp32). ArtifactFailed, in one line, when
    the new artifact does not load or run; a backend missing here gives {"status": "skipped", "reason": …}."""
    runner_cls, reason = runner_here(fp32.format)
    if runner_cls is None:
        return {"vs": "fp32-bundle", "status": "skipped", "reason": reason}
    candidate = load_bundle(bundle_dir)
    run_isolated(candidate, runner_cls, threads)
    feeds, origin = check_inputs(fp32, calibration)
    with runner_cls() as reference, runner_cls() as runner:
        reference.load(fp32, threads)
        try:
            runner.load(candidate, threads)
            runner.infer(feeds[0])
        except Exception as exc:  # every backend raises its own types; the message is what the user needs
            raise ArtifactFailed(f"the {candidate.format} {candidate.precision} artifact does not run in "
                                 f"{runner_cls.name}: {one_line(exc)}") from exc
        worst = compare_runners(reference.infer, {candidate.name: runner.infer}, iter(feeds))
    output = fp32.outputs[0]["name"]
    stats = worst[candidate.name].get(output, {})
    if "error" in stats:
        raise ArtifactFailed(f"the {candidate.format} {candidate.precision} artifact: {stats['error']}")
    stats = {k: v for k, v in stats.items() if k not in ("shape", "reshaped")}
    return {"vs": "fp32-bundle", "backend": runner_cls.name, "inputs": len(feeds), "inputs_from": origin, **stats}
