"""Measurements taken on other devices, merged into a report: the rows of a `python -m runtime bench --json`
file or of `edgedepth profile --adb`'s device.json go to the report's `device_rows`, each tagged with the
device it ran on, so the report shows them beside the host's numbers without mixing them into the host's
tables, plot or gates. Merging a device's file again replaces its rows (same device, artifact and backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.errors import InputError

DEVICE_ROWS = "device_rows"


def load_device_results(path: str | Path) -> dict[str, Any]:
    """A device's results file, checked: a JSON object with `machine` {…} and `rows` [{artifact, …}, …]."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict) or not isinstance(data.get("rows"),
                                                                                                 list):
        raise InputError(f"{path} is not a device's results (expected 'machine' and 'rows' as `python -m runtime "
                         "bench --json` or `edgedepth profile` write them)")
    for index, row in enumerate(data["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("artifact"), str):
            raise InputError(f"{path}: rows[{index}] is not a row with an artifact name")
        if row.get("reference"):
            raise InputError(f"{path}: rows[{index}] is a reference row: this is a report, not a device's results")
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
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{report_path} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise InputError(f"{report_path} is not an edgedepth report (no rows)")
    lines = []
    for path, results in [(path, load_device_results(path)) for path in paths]:
        replaced = merge_device_results(report, results)
        lines.append(f"{path}: {len(results['rows'])} row(s) from {device_of(results)['name']}"
                     + (f" ({replaced} replaced)" if replaced else ""))
    write_report(out_dir, report)
    return lines
