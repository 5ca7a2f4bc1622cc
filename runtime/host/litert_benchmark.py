"""LiteRT's command-line tools on a device, as report rows: the flags `benchmark_model` and
`inference_diff_run_eval` take for a delegate, and parsers of what they print.

The formats parsed are those of tensorflow/lite/tools/benchmark/benchmark_model.cc (every line behind an
"INFO: " prefix on current builds, none on old ones):

    Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
    count=50 first=57210 curr=56744 min=55980 max=61022 avg=57018.3 std=1023 [p5=… median=… p95=…]
    Inference timings in us: Init: 38764, First inference: 88013, Warmup (avg): 58137.8, Inference (avg): 57018.3
    Memory footprint delta from the start of the tool (MB): init=6.53516 overall=14.3672
    Overall peak memory footprint (MB) via periodic monitoring: 18.6328

(the per-run statistics come from tsl's Stat / StatWithPercentiles: "count=N curr=V(all same)" when every run
took the same time; older tools print "Average inference timings in us: Warmup: …, Init: …, Inference: …"),
and of tensorflow/lite/tools/evaluation/tasks/inference_diff/run_eval.cc:

    Num evaluation runs: 50
    Reference run latency: avg=84364.2(us), std_dev=12525(us)
    Test run latency: avg=7281.64(us), std_dev=2089(us)
    OutputDiff[0]: avg_error=1.96277e-05, std_dev=6.95767e-06

Numpy-free and torch-free: nothing here runs a model.
"""

from __future__ import annotations

import math
import re
from typing import Any

from runtime.errors import InputError

TOOL = "litert benchmark_model"
# Delegate → benchmark_model flags. "cpu" is LiteRT's own kernels: XNNPACK, the default, switched off.
DELEGATE_FLAGS = {
    "xnnpack": ["--use_xnnpack=true"],
    "cpu": ["--use_xnnpack=false"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
DELEGATES = tuple(DELEGATE_FLAGS)
# Delegate → inference_diff_run_eval flags (its test interpreter; the reference is single-threaded CPU).
DIFF_FLAGS = {"xnnpack": ["--delegate=xnnpack"], "cpu": ["--use_xnnpack=false"], "gpu": ["--delegate=gpu"],
              "nnapi": ["--delegate=nnapi"]}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"
_TIMINGS = re.compile(rf"Inference timings in us: Init: (?P<init>{_NUMBER}), First inference: (?P<first>{_NUMBER}), "
                      rf"Warmup \(avg\): (?P<warmup>{_NUMBER}), Inference \(avg\): (?P<avg>{_NUMBER})")
_OLD_TIMINGS = re.compile(rf"Average inference timings in us: Warmup: (?P<warmup>{_NUMBER}), "
                          rf"Init: (?P<init>{_NUMBER}), (?:Inference|no stats): (?P<avg>{_NUMBER})")
_STATS = re.compile(r"(?:^|\s)count=(\d+)")
_PAIR = re.compile(rf"(\w+)=({_NUMBER})")
_MEMORY = re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init=(?P<init>{_NUMBER}) "
                     rf"overall=(?P<overall>{_NUMBER})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>{_NUMBER})")
_RUNNING = "Running benchmark for at least"
_DIFF = re.compile(rf"OutputDiff\[(\d+)\]: avg_error=({_NUMBER}), std_dev=({_NUMBER})")
_DIFF_RUNS = re.compile(r"Num evaluation runs: (\d+)")
_DIFF_LATENCY = re.compile(rf"(Reference|Test) run latency: avg=({_NUMBER})\(us\), std_dev=({_NUMBER})\(us\)")


def benchmark_flags(graph: str, threads: int, runs: int, warmup: int, delegate: str,
                    peak_memory: bool = False) -> list[str]:
    """benchmark_model's arguments for one model file on the device, one thread count and one delegate."""
    if delegate not in DELEGATE_FLAGS:
        raise InputError(f"unknown delegate '{delegate}' (one of {', '.join(DELEGATES)})")
    flags = [f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
             *DELEGATE_FLAGS[delegate]]
    return flags + (["--report_peak_memory_footprint=true"] if peak_memory else [])


def diff_flags(model: str, threads: int, runs: int, delegate: str) -> list[str]:
    """inference_diff_run_eval's arguments: the same model, threads and delegate against its CPU reference."""
    if delegate not in DIFF_FLAGS:
        raise InputError(f"unknown delegate '{delegate}' (one of {', '.join(DELEGATES)})")
    return [f"--model_file={model}", f"--num_runs={runs}", f"--num_interpreter_threads={threads}",
            *DIFF_FLAGS[delegate]]


def _number(text: str) -> float:
    return float(text)


def _stats_line(lines: list[str]) -> str | None:
    """The timed runs' statistics: the first `count=` line after the last "Running benchmark" line (the one
    before it summarises the warm-up runs), else the last `count=` line before the timings line."""
    starts = [i for i, line in enumerate(lines) if _RUNNING in line]
    if starts:
        return next((line for line in lines[starts[-1] + 1:] if _STATS.search(line)), None)
    end = next((i for i, line in enumerate(lines) if "nference timings in us" in line), len(lines))
    return next((line for line in reversed(lines[:end]) if _STATS.search(line)), None)


def parse_stats(line: str) -> dict[str, float]:
    """A Stat line (`count=50 first=… min=… max=… avg=… std=…`, perhaps `p5=… median=… p95=…`, or
    `count=N curr=V(all same)`) as numbers, in the tool's unit (µs); min/max/avg/std filled for "all same"."""
    text = line[_STATS.search(line).start():]
    values = {key: _number(value) for key, value in _PAIR.findall(text)}
    if "(all same)" in text or (values.get("count") == 1 and "curr" in values and "min" not in values):
        values.update({key: values["curr"] for key in ("min", "max", "avg") if key not in values})
        values.setdefault("std", 0.0)
    return values


def parse_benchmark_output(text: str) -> dict[str, Any]:
    """What benchmark_model measured, in ms and MB: `init_ms`, `first_inference_ms`, `warmup_mean_ms`,
    `inference_mean_ms`, `runs` (the timed runs' count, min, max, std, and p5/median/p95 when printed) and
    `memory_mb` {`init`, `overall`, `peak`} where printed. InputError when the timings line is missing."""
    lines = text.splitlines()
    found = next((m for line in lines for m in [_TIMINGS.search(line) or _OLD_TIMINGS.search(line)] if m), None)
    if found is None:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        raise InputError(f"benchmark_model printed no 'Inference timings in us' line (last line: {last[:200]})")
    groups = found.groupdict()
    result: dict[str, Any] = {"init_ms": _number(groups["init"]) / 1000,
                              "warmup_mean_ms": _number(groups["warmup"]) / 1000,
                              "inference_mean_ms": _number(groups["avg"]) / 1000}
    if groups.get("first") is not None:
        result["first_inference_ms"] = _number(groups["first"]) / 1000
    stats_line = _stats_line(lines)
    if stats_line is not None:
        stats = parse_stats(stats_line)
        if not stats.get("count"):
            raise InputError("benchmark_model timed no runs (count=0)")
        result["runs"] = {key: (int(value) if key == "count" else value / 1000) for key, value in stats.items()}
    memory = {}
    for pattern in (_MEMORY, _PEAK):
        match = next((m for line in lines for m in [pattern.search(line)] if m), None)
        if match:
            memory.update({key: _number(value) for key, value in match.groupdict().items()})
    if memory:
        result["memory_mb"] = memory
    return result


def parse_inference_diff(text: str) -> dict[str, Any]:
    """What inference_diff_run_eval printed: `runs`, `reference_latency_ms` / `test_latency_ms` {mean, std}
    and per output {`avg_error`, `std_dev`} of |test − reference|; InputError when no OutputDiff line is there."""
    outputs = {int(index): {"avg_error": _number(avg), "std_dev": _number(std)}
               for index, avg, std in _DIFF.findall(text)}
    if not outputs:
        last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "no output")
        raise InputError(f"inference_diff printed no 'OutputDiff[0]: avg_error=…' line (last line: {last[:200]})")
    result: dict[str, Any] = {"outputs": [outputs[i] for i in sorted(outputs)]}
    runs = _DIFF_RUNS.search(text)
    if runs:
        result["runs"] = int(runs.group(1))
    for which, avg, std in _DIFF_LATENCY.findall(text):
        result[f"{which.lower()}_latency_ms"] = {"mean": _number(avg) / 1000, "std": _number(std) / 1000}
    return result


def _rounded(value: float, digits: int = 4) -> float:
    return round(value, digits) if math.isfinite(value) else value


def benchmark_fields(measured: dict[str, Any]) -> dict[str, Any]:
    """A report row's latency fields from `parse_benchmark_output`: `latency_ms` {p50, mean, min, max, std, and
    p5/p95 when printed}, `fps` (1000 / p50), `timed_runs`, `init_ms`, `first_inference_ms`, `warmup_mean_ms`,
    `memory_mb`, and `p50_source` ("median", or "mean" where the tool printed no median)."""
    runs = measured.get("runs") or {}
    mean = runs.get("avg", measured["inference_mean_ms"])
    p50 = runs.get("median", mean)
    latency = {"p50": p50, "mean": mean}
    latency.update({key: runs[key] for key in ("min", "max", "std", "p5", "p95") if key in runs})
    fields: dict[str, Any] = {"latency_ms": {key: _rounded(value) for key, value in latency.items()},
                              "fps": round(1000.0 / p50, 2) if p50 > 0 else float("inf"),
                              "p50_source": "median" if "median" in runs else "mean"}
    if "count" in runs:
        fields["timed_runs"] = runs["count"]
    for key in ("init_ms", "first_inference_ms", "warmup_mean_ms"):
        if key in measured:
            fields[key] = _rounded(measured[key], 2)
    if "memory_mb" in measured:
        fields["memory_mb"] = {key: _rounded(value, 3) for key, value in measured["memory_mb"].items()}
    return fields


def diff_fields(diff: dict[str, Any], delegate: str) -> dict[str, Any]:
    """A report row's `output_diff`: mean |delegate − single-threaded CPU| per output (and their largest) on the
    tool's random inputs, with the run count and both latencies."""
    worst = max((o["avg_error"] for o in diff["outputs"] if math.isfinite(o["avg_error"])), default=float("nan"))
    return {"output_diff": {"vs": "single-threaded CPU (inference_diff_run_eval)", "delegate": delegate,
                            "avg_error": worst, **diff}}
