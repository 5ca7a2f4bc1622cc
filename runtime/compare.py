"""Output comparison on the same inputs (the shape of Polygraphy's comparator): per-output agreement statistics,
the worst case over many feeds, and a pass/fail verdict against tolerances. Export parity (torch vs bundle) and
runner-vs-runner checks both go through `compare_runners`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from runtime.jsonsafe import as_float
from runtime.metrics import agreement


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, dict]:
    """{output name: `metrics.agreement` stats + shape} for every reference output; problems as {"error": …}.

    A candidate output with the reference's size but another shape (e.g. N×H×W vs N×1×H×W) is compared
    after reshaping, and marked `"reshaped": True`.
    """
    results: dict[str, dict] = {}
    for name, ref in reference.items():
        ref = np.asarray(ref)
        if name not in candidate:
            results[name] = {"error": f"output '{name}' is missing from the candidate"}
            continue
        got = np.asarray(candidate[name])
        entry: dict[str, Any] = {"shape": list(ref.shape)}
        if got.shape != ref.shape:
            if got.size != ref.size:
                shapes = f"{list(got.shape)}, reference {list(ref.shape)}"
                results[name] = {"error": f"output '{name}' has shape {shapes}"}
                continue
            got = got.reshape(ref.shape)
            entry["reshaped"] = True
        try:
            entry.update(agreement(ref, got))
        except ValueError as exc:
            results[name] = {"error": f"output '{name}': {exc}"}
            continue
        results[name] = entry
    return results


def check_tolerance(stats: dict[str, dict], max_abs_rel: float | None = None,
                    min_psnr_db: float | None = None) -> tuple[bool, str]:
    """(ok, reason): every output must have no error, max_abs_rel ≤ the limit and psnr_db ≥ the limit."""
    problems = []
    for name, entry in stats.items():
        if "error" in entry:
            problems.append(entry["error"])
            continue
        worst = as_float(entry.get("max_abs_rel"))
        if max_abs_rel is not None and (worst is None or worst > max_abs_rel):
            problems.append(f"{name}: max |Δ|/range {_fmt(worst)} > {max_abs_rel:.3g}")
        psnr = as_float(entry.get("psnr_db"))
        if min_psnr_db is not None and (psnr is None or psnr < min_psnr_db):
            problems.append(f"{name}: PSNR {_fmt(psnr)} dB < {min_psnr_db:.3g} dB")
    return (not problems, "; ".join(problems))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


Infer = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def compare_runners(reference: Infer, candidates: dict[str, Infer],
                    feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """Run `reference` and every candidate (`runner.infer` or any feed → outputs callable) on each feed;
    {candidate: worst stats per output} (worst = largest max |Δ|/range; the first error is the verdict)."""
    worst: dict[str, dict[str, dict]] = {name: {} for name in candidates}
    for feed in feeds:
        ref_out = reference(feed)
        for name, infer in candidates.items():
            for output, entry in compare_outputs(ref_out, infer(feed)).items():
                previous = worst[name].get(output)
                if previous is not None and "error" in previous:
                    continue
                if previous is None or "error" in entry or entry["max_abs_rel"] > previous["max_abs_rel"]:
                    worst[name][output] = entry
    return worst
