"""Measurements taken on other devices, merged into a report: the rows of a `python -m runtime bench --json`
file or of `edgedepth profile --adb`'s device.json go to the report's `device_rows`, each tagged with the
device it ran on, so the report shows them beside the host's numbers without mixing them into the host's
tables, plot or gates. Merging a device's file again replaces its rows (same device, artifact and backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.errors import InputError
from runtime.validate import Schema, choice, load_json, number, optional, text

DEVICE_ROWS = "device_rows"


MS = optional(number(0.0, 1e9))  # a latency in milliseconds: 0 to 11 days, finite
DEVICE_ROW = Schema({
    "artifact": text(200), "format": optional(text(100)), "precision": optional(text(100)),
    "backend": optional(text(200)), "status": choice("ok", "failed", "skipped"), "reason": optional(text(2000)),
    "threads": optional(number(1, 1 << 20, integer=True)), "size_mb": optional(number(0.0, 1e7)),
    "init_ms": MS, "fps": optional(number(0.0, 1e9)),
    "latency_ms": optional(lambda value, where: LATENCY.check(value, where)),
})
LATENCY = Schema({key: MS for key in ("p50", "p90", "p99", "mean", "min", "max", "std")})


def check_device_rows(rows: Any, where: str) -> None:
    """Device rows as a report shows them: an artifact name, a known status, finite non-negative latencies, FPS
    and sizes (a p50 of 10**400 or "fast", a negative FPS, a status "weird" are refused in one line)."""
    if not isinstance(rows, list):
        raise InputError(f"{where}: rows must be a list")
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("artifact"), str):
            raise InputError(f"{where}: rows[{index}] is not a row with an artifact name")
        DEVICE_ROW.check(row, f"{where}: rows[{index}]")


def load_device_results(path: str | Path) -> dict[str, Any]:
    """A device's results file, checked: a JSON object with `machine` {…} and `rows` [{artifact, …}, …]; a
    regular file under the JSON size cap, its rows through DEVICE_ROW."""
    path = Path(path)
    data = load_json(path, "device results")
    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict) or not isinstance(data.get("rows"),
                                                                                                 list):
        raise InputError(f"{path} is not a device's results (expected 'machine' and 'rows' as `python -m runtime "
                         "bench --json` or `edgedepth profile` write them)")
    for index, row in enumerate(data["rows"]):
        if isinstance(row, dict) and row.get("reference"):
            raise InputError(f"{path}: rows[{index}] is a reference row: this is a report, not a device's results")
    check_device_rows(data["rows"], str(path))
    for key in ("name", "board", "cpu"):
        optional(text(200))(data["machine"].get(key), f"{path}: machine.{key}")
    return data


def device_of(results: dict[str, Any]) -> dict[str, Any]:
    """{name, machine} of the device a results file describes: the machine's `name` (profile), else its board
    (a single-board computer's model), else its CPU."""
    machine = results["machine"]
    name = machine.get("name") or machine.get("board") or machine.get("cpu") or "unnamed device"
    return {"name": str(name), "machine": machine}


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str((row.get("device") or {}).get("name")), str(row.get("artifact")), str(row.get("backend")))


def merge_device_results(report: dict[str, Any], results: dict[str, Any]) -> int:
    """Add a device's rows to `report[DEVICE_ROWS]` (in place), replacing rows of the same device, artifact and
    backend; returns how many rows were replaced."""
    device = device_of(results)
    added = [{**row, "device": device} for row in results["rows"]]
    keys = {_key(row) for row in added}
    before = list(report.get(DEVICE_ROWS) or [])
    kept = [row for row in before if _key(row) not in keys]
    report[DEVICE_ROWS] = kept + added
    return len(before) - len(kept)


def merge_into_report(out_dir: str | Path, paths: list[Path]) -> list[str]:
    """Merge device results files into `out_dir`'s report.json and rewrite report.json, .md and .html; every file
    is read and checked before anything is written. Returns one line per merged file."""
    from runtime.host.report import write_report

    report_path = Path(out_dir) / "report.json"
    if not report_path.is_file():
        raise InputError(f"no report at {report_path} (write one with edgedepth demo or edgedepth verify first)")
    report = load_json(report_path, "report")
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise InputError(f"{report_path} is not an edgedepth report (no rows)")
    check_device_rows(report.get(DEVICE_ROWS) or [], f"{report_path}: {DEVICE_ROWS}")
    lines = []
    for path, results in [(path, load_device_results(path)) for path in paths]:
        replaced = merge_device_results(report, results)
        lines.append(f"{path}: {len(results['rows'])} row(s) from {device_of(results)['name']}"
                     + (f" ({replaced} replaced)" if replaced else ""))
    write_report(out_dir, report)
    return lines
