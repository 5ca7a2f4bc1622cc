"""The assertions every family's export test makes, and the documented table they are held against."""

from __future__ import annotations

from pathlib import Path

from runtime.preprocess import input_hwc
from tests.originals.families import FORMATS, build, documented, export_rows

PARITY = {"mono": 1e-4, "stereo": 1e-3}  # of the output's range; iterative stereo networks accumulate more


def check_family(family: str, root: Path) -> dict[str, dict]:
    """Export the family's small original to every format at fp32 and check each row: ONNX, TFLite and OpenVINO
    agree with torch within PARITY, CoreML is written, export-checked and held to
    the same bound (or names the op the MIL interpreter lacks), a rejection is a one-line `failed` row;
    the outcome is the one docs/originals.md states."""
    original = build(family, root)
    rows = export_rows(original, root / "bundles")
    assert set(rows) == set(FORMATS), rows
    for fmt in ("onnx", "tflite", "openvino"):
        assert rows[fmt]["status"] == "ok", (family, fmt, rows[fmt].get("reason"))
        parity = rows[fmt]["parity"]
        assert parity["max_abs_rel"] <= PARITY[original.task], (family, fmt, parity)
        manifest = rows[fmt]["bundle"].manifest
        assert manifest["source"]["original"]["family"] == family
        assert input_hwc(manifest["inputs"][0])[:2] == original.input_size
    coreml = rows["coreml"]
    if coreml["status"] == "ok":
        assert coreml["bundle"].manifest["checks"], coreml  # reloaded, type-checked, weights' precision
        parity = coreml["parity"]  # Core ML on macOS, else the numpy MIL interpreter
        if parity["status"] == "ok":
            assert parity["max_abs_rel"] <= PARITY[original.task], (family, "coreml", parity)
        else:
            assert "no kernel for op" in parity["reason"], (family, "coreml", parity)
    else:
        assert coreml["status"] == "failed" and coreml["reason"] and "\n" not in coreml["reason"], coreml
    assert {fmt: row["status"] for fmt, row in rows.items()} == documented(family), (
        f"docs/originals.md disagrees with this run for {family}: "
        + "; ".join(f"{fmt}: {row['status']} {row.get('reason', '')}" for fmt, row in rows.items()))
    return rows
