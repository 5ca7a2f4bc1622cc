"""Exit-code gates over measured rows, so CI can stop on broken or degraded artifacts: any failed row, and
optional fidelity budgets (a minimum PSNR against the fp32 student, a maximum δ1 drop on any dataset)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.jsonsafe import as_float


def failed_rows(rows: Iterable[dict[str, Any]]) -> list[str]:
    """'artifact: reason' for every row that was asked for and failed (skipped rows could not run here)."""
    return [f"{row.get('artifact')}: {row.get('reason') or 'no reason recorded'}" for row in rows
            if row.get("status") == "failed"]


def over_budget(rows: Iterable[dict[str, Any]], min_psnr: float | None = None,
                max_delta1_drop: float | None = None) -> list[str]:
    """One line per artifact row (references aside) that misses a budget; rows that did not run are left to
    `failed_rows`."""
    problems = []
    for row in rows:
        if row.get("reference") or row.get("status") != "ok":
            continue
        name = row.get("artifact")
        psnr = as_float((row.get("fidelity") or {}).get("psnr_db"))
        if min_psnr is not None and (psnr is None or psnr < min_psnr):
            problems.append(f"{name}: PSNR vs fp32 {psnr if psnr is None else round(psnr, 2)} dB < {min_psnr} dB")
        for dataset, metrics in (row.get("accuracy") or {}).items():
            drop = as_float((metrics or {}).get("delta1_drop"))
            if max_delta1_drop is not None and drop is not None and drop > max_delta1_drop:
                problems.append(f"{name}: δ1 drop {drop:.4f} on {dataset} > {max_delta1_drop}")
    return problems
