"""The report's table model: which rows, columns, values and notes a Contract-2 report shows, as plain lists
of strings that every renderer (report.md, report.html) lays out its own way. No rendering happens here.
"""

from __future__ import annotations

from typing import Any

from runtime.jsonsafe import as_float
from runtime.rows import BASELINE_FORMAT, MISSING, format_value

STATUSES = ("ok", "skipped", "failed")
# (label, path into the row, format) of the columns every report has.
_COMMON_COLUMNS = [
    ("Size MB", ("size_mb",), "size"),
    ("p50 ms", ("latency_ms", "p50"), "ms"),
    ("p90 ms", ("latency_ms", "p90"), "ms"),
    ("p99 ms", ("latency_ms", "p99"), "ms"),
    ("FPS", ("fps",), "fps"),
    ("Speed-up", ("speedup_vs_student",), "speedup"),
    ("PSNR dB vs fp32", ("fidelity", "psnr_db"), "psnr"),
    ("AbsRel vs fp32", ("fidelity", "absrel"), "absrel"),
]
_TEACHER_COLUMNS = {
    "mono": [("δ1 vs teacher", ("vs_teacher", "delta1"), "delta"),
             ("AbsRel vs teacher", ("vs_teacher", "absrel"), "absrel")],
    "stereo": [("EPE vs teacher", ("vs_teacher", "epe"), "px"),
               ("bad-2 % vs teacher", ("vs_teacher", "bad2"), "pct")],
}
# The summary's columns: one fidelity figure, and one accuracy figure per task against the teacher and per dataset.
_SUMMARY_COLUMNS = [("Size MB", ("size_mb",), "size"), ("FPS", ("fps",), "fps"),
                    ("Speed-up", ("speedup_vs_student",), "speedup"),
                    ("PSNR dB vs fp32", ("fidelity", "psnr_db"), "psnr")]
# Shown when the report holds an original's bundles beside the student's.
_ORIGINAL_COLUMN = ("Speed-up vs original", ("speedup_vs_original",), "speedup")
HEADLINE = {"mono": ("δ1", "delta1", "delta"), "stereo": ("bad-2 %", "bad2", "pct")}
# Whether a mono model reads its image (rows carry `sanity` on mono reports).
_SANITY_COLUMNS = [("Input dependence", ("sanity", "input_dependence"), "corr"),
                   ("Mirror", ("sanity", "mirror"), "corr")]
_POSITION_COLUMN = ("Position prior", ("sanity", "position_prior"), "corr")  # where a real photo was evaluated
SANITY_LEGEND = ("input dependence: correlation of outputs on unrelated scenes (low = reads its image); mirror: "
                 "corr(f(flip x), flip f(x)) (1 = equivariant); position prior: correlation of the output on a real "
                 "photo with the outputs on Gaussian noise of its size (low = the map is the photo's, not a fixed "
                 "layout)")
# Column order and format of the per-dataset detail tables; other keys follow alphabetically.
_DETAIL_METRICS = {"absrel": ("AbsRel", "absrel"), "sqrel": ("SqRel", "absrel"), "rmse": ("RMSE", "general"),
                   "rmse_log": ("RMSE log", "general"), "delta1": ("δ1", "delta"), "delta2": ("δ2", "delta"),
                   "delta3": ("δ3", "delta"),
                   "delta1_drop": ("δ1 drop vs fp32", "delta"), "epe": ("EPE px", "px"), "bad1": ("bad-1 %", "pct"),
                   "bad2": ("bad-2 %", "pct"), "bad3": ("bad-3 %", "pct"), "d1": ("D1 %", "pct"),
                   "bad2_rise": ("bad-2 rise vs fp32", "pct"), "epe_dense": ("EPE px, holes as misses", "px"),
                   "bad2_dense": ("bad-2 %, holes as misses", "pct"), "depth_absrel": ("depth AbsRel", "absrel"),
                   "depth_delta1": ("depth δ1", "delta"), "coverage": ("coverage", "delta")}
_DETAIL_METRICS.update({"bad0.5": ("bad-0.5 %", "pct"), "bad4": ("bad-4 %", "pct"), "bad5": ("bad-5 %", "pct")})
# Suffixes of the stereo columns on part of the pixels (runtime.protocols.score_disparity), in column order.
_REGION_SUFFIXES = {"": "", "_noc": ", noc", "_own": ", own pixels", "_noc_own": ", noc, own pixels"}
_BASE_ORDER = ["absrel", "sqrel", "rmse", "rmse_log", "delta1", "delta2", "delta3", "delta1_drop", "epe", "bad0.5",
               "bad1", "bad2", "bad3", "bad4", "bad5", "d1", "bad2_rise"]
DEFAULT_ALIGNMENT = ("after per-image least-squares scale and shift in inverse-depth space (MiDaS protocol)")
LEGEND = (
    "Latency: ms per inference after untimed warm-up runs, at the thread count above; FPS = 1000 / p50. "
    "Speed-up: FPS ÷ the torch fp32 student's FPS. Fidelity (vs fp32): raw-output agreement with the torch "
    "fp32 student on the same inputs — PSNR over the student's output range (∞ = identical) and AbsRel. "
    "vs teacher and accuracy: {alignment}; AbsRel lower is better, δ1 is a fraction in [0, 1] (higher is "
    "better); EPE in px, bad-N and D1 in % of pixels; δ1 drop vs fp32 = the fp32 student's δ1 minus the "
    "artifact's. Status: ok; skipped (cannot run here; \"export checked\" = the saved artifact was reloaded "
    "and inspected); failed. — = not measured/undefined. The summary holds one figure per kind; the tables "
    "below it hold every number."
)


def legend(report: dict) -> str:
    """The table legend, with how this report compares outputs (its `reference.alignment`), and what the sanity
    columns and baseline rows mean when the report has them."""
    alignment = (report.get("reference") or {}).get("alignment") or DEFAULT_ALIGNMENT
    text = LEGEND.format(alignment=alignment)
    if has_sanity(report):
        text += f" Sanity, {_sanity_scope(report)}: {SANITY_LEGEND}."
    if any(is_baseline(row) for row in report.get("rows", [])):
        text += (" Baseline rows are maps that ignore the image, scored like any artifact: a student that does not "
                 "beat them has not shown that it reads its input.")
    return text


def is_baseline(row: dict) -> bool:
    """Whether a row is a baseline map (a constant, a gradient) rather than a model."""
    return row.get("format") == BASELINE_FORMAT


def has_sanity(report: dict) -> bool:
    """Whether any row of the report carries sanity numbers (input dependence, mirror)."""
    return any(row.get("sanity") for row in report.get("rows", []))


def sanity_columns(report: dict) -> list[tuple[str, tuple[str, ...], str]]:
    """The sanity columns this report has numbers for (none, or input dependence and mirror, and the position
    prior where a row measured it)."""
    if not has_sanity(report):
        return []
    with_position = any((row.get("sanity") or {}).get("position_prior") is not None for row in report["rows"])
    return _SANITY_COLUMNS + ([_POSITION_COLUMN] if with_position else [])


def _sanity_scope(report: dict) -> str:
    """Where the sanity numbers were measured, and what the ground truth itself scores there."""
    info = report.get("sanity") or {}
    samples = next((row["sanity"].get("samples") for row in report.get("rows", []) if row.get("sanity")), None)
    scope = f"on {_samples(info.get('samples', samples))} of {info.get('dataset', 'the held-out scenes')}"
    truth = as_float(info.get("ground_truth_input_dependence"))
    if truth is not None:
        scope += f" (the ground truth's own input dependence there: {format_value(truth, 'corr')})"
    return scope


def _get(row: dict, path: tuple[str, ...]) -> Any:
    value: Any = row
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def ordered_rows(report: dict) -> list[dict]:
    """Reference rows (teacher, torch fp32 student) first, then the artifacts, each group in report order."""
    rows = report.get("rows", [])
    return [r for r in rows if r.get("reference")] + [r for r in rows if not r.get("reference")]


def _student_fps(rows: list[dict]) -> float | None:
    for row in rows:
        if row.get("reference") and row.get("format") == "torch":
            return as_float(row.get("fps"))
    return None


def _original_column(rows: list[dict]) -> list[tuple[str, tuple[str, ...], str]]:
    """The speed-up-over-the-original column, where any row has one."""
    return [_ORIGINAL_COLUMN] if any(row.get("speedup_vs_original") is not None for row in rows) else []


def status_text(row: dict) -> str:
    """The status as words, plus "export checked" when the artifact was verified without being run here."""
    status = str(row.get("status", "ok"))
    checks = row.get("export_checks") or {}
    if status != "ok" and checks.get("status") == "ok":
        return f"{status}, export checked"
    return status


def dataset_names(report: dict) -> list[str]:
    """Datasets in report order, then any that only rows mention."""
    names = list(report.get("datasets") or {})
    for row in report.get("rows", []):
        names += [n for n in (row.get("accuracy") or {}) if n not in names]
    return names


def report_task(report: dict) -> str:
    """The report's task (mono unless it says stereo)."""
    return report["task"] if report.get("task") in _TEACHER_COLUMNS else "mono"


def _artifact_cell(row: dict) -> str:
    reference = row.get("reference") and not is_baseline(row)
    return str(row.get("artifact", MISSING)) + (" (ref)" if reference else "")


def _column_cells(row: dict, columns: list[tuple[str, tuple[str, ...], str]], base_fps: float | None) -> list[str]:
    cells = []
    for _, path, kind in columns:
        value = _get(row, path)
        if path == ("speedup_vs_student",) and value is None and base_fps and as_float(row.get("fps")):
            value = as_float(row["fps"]) / base_fps
        cells.append(format_value(value, kind))
    return cells


def metric_column(key: str) -> tuple[str, str]:
    """(label, format) of an accuracy key, a region suffix (`_noc`, `_own`) named in the label."""
    if key in _DETAIL_METRICS:
        return _DETAIL_METRICS[key]
    for suffix in sorted(_REGION_SUFFIXES, key=len, reverse=True):
        base = key[: -len(suffix)] if suffix and key.endswith(suffix) else None
        if base in _DETAIL_METRICS:
            label, kind = _DETAIL_METRICS[base]
            return label + _REGION_SUFFIXES[suffix], kind
    return key, "general"


def _column_order(keys: set[str]) -> list[str]:
    """Accuracy keys in the papers' order: each region's columns together (all, noc, own), the rest after."""
    ordered = []
    for suffix in _REGION_SUFFIXES:
        ordered += [base + suffix for base in _BASE_ORDER if base + suffix in keys]
    ordered += [k for k in _DETAIL_METRICS if k in keys and k not in ordered]
    return ordered + sorted(keys - set(ordered))


def headline(report: dict, name: str) -> tuple[str, str, str]:
    """(label, key, format) of a dataset's summary figure: the first of its protocol's headline keys that a row
    reports, else the task's (δ1 for mono, bad-2 % for stereo)."""
    label, key, kind = HEADLINE[report_task(report)]
    info = (report.get("datasets") or {}).get(name)
    wanted = info.get("headline") if isinstance(info, dict) else None
    present = {k for row in report.get("rows", []) for k in ((row.get("accuracy") or {}).get(name) or {})}
    chosen = next((k for k in wanted or [] if k in present), None)
    if chosen is None:
        return label, key, kind
    chosen_label, chosen_kind = metric_column(chosen)
    return chosen_label, chosen, chosen_kind


def dataset_protocol(report: dict, name: str) -> str | None:
    """How a dataset was scored, in words (its protocol and alignment), when the report records it."""
    info = (report.get("datasets") or {}).get(name)
    return info.get("protocol_text") if isinstance(info, dict) else None


def summary_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """The table read at a glance, one row per artifact: status in words, size, speed, fidelity, and one
    accuracy figure against the teacher and per dataset (its protocol's headline: δ1, bad-2 %, D1 …)."""
    task = report_task(report)
    _, key, _ = HEADLINE[task]
    teacher = [c for c in _TEACHER_COLUMNS[task] if c[1][-1] == key]
    datasets = dataset_names(report)
    headlines = {name: headline(report, name) for name in datasets}
    rows = ordered_rows(report)
    columns = _SUMMARY_COLUMNS + _original_column(rows) + teacher
    headers = ["Artifact", "Status"] + [c[0] for c in columns] + [f"{n} {headlines[n][0]}" for n in datasets]
    base_fps = _student_fps(rows)
    cells = []
    for row in rows:
        line = [_artifact_cell(row), status_text(row)] + _column_cells(row, columns, base_fps)
        line += [format_value(((row.get("accuracy") or {}).get(n) or {}).get(headlines[n][1]), headlines[n][2])
                 for n in datasets]
        cells.append(line)
    return headers, cells


def speed_fidelity_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Every number of a row that is not per dataset: where it ran, latency percentiles, fidelity, agreement
    with the teacher, sanity."""
    task = report_task(report)
    rows = ordered_rows(report)
    columns = (_COMMON_COLUMNS + _original_column(rows) + _TEACHER_COLUMNS[task]
               + sanity_columns(report))
    headers = ["Artifact", "Format", "Precision", "Backend"] + [c[0] for c in columns]
    base_fps = _student_fps(rows)
    cells = [[_artifact_cell(row), str(row.get("format", MISSING)), str(row.get("precision", MISSING)),
              backend_cell(row)] + _column_cells(row, columns, base_fps) for row in rows]
    return headers, cells


def backend_cell(row: dict) -> str:
    """The runner's name, with the delegate that ran the model when the runner says (LiteRT: "litert (XNNPACK)")."""
    backend = str(row.get("backend") or MISSING)
    accelerator = row.get("accelerator")
    delegate = accelerator.get("delegate") if isinstance(accelerator, dict) else None
    return f"{backend} ({delegate})" if isinstance(delegate, str) and delegate else backend


def baseline_comparison(report: dict) -> tuple[list[str], list[list[str]], list[str]] | None:
    """The torch student, the baselines and each ok artifact side by side (δ1 vs teacher, δ1 per dataset, sanity
    numbers), plus one line per dataset saying by how much the student's δ1 clears the best baseline's; None when
    the report has no baseline rows."""
    rows = ordered_rows(report)
    baselines = [r for r in rows if is_baseline(r)]
    if not baselines:
        return None
    student = next((r for r in rows if r.get("reference") and r.get("format") == "torch"), None)
    artifacts = [r for r in rows if not r.get("reference") and r.get("status", "ok") == "ok"]
    shown = ([student] if student else []) + baselines + artifacts
    datasets = [n for n in dataset_names(report) if any(n in (r.get("accuracy") or {}) for r in baselines)]
    sanity = sanity_columns(report)
    headers = ["Row", "δ1 vs teacher"] + [f"{name} δ1" for name in datasets] + [label for label, _, _ in sanity]
    cells = []
    for row in shown:
        line = [str(row.get("artifact", MISSING)), format_value(_get(row, ("vs_teacher", "delta1")), "delta")]
        line += [format_value(_get(row, ("accuracy", name, "delta1")), "delta") for name in datasets]
        line += [format_value(_get(row, path), kind) for _, path, kind in sanity]
        cells.append(line)
    verdicts = []
    for name in (["vs teacher"] + datasets if student else []):
        path = ("vs_teacher", "delta1") if name == "vs teacher" else ("accuracy", name, "delta1")
        mine = as_float(_get(student, path))
        scored = [(as_float(_get(r, path)), str(r.get("artifact"))) for r in baselines]
        scored = [(value, label) for value, label in scored if value is not None]
        if mine is None or not scored:
            continue
        best, label = max(scored)
        margin = round(mine - best, 3) + 0.0  # + 0.0: a tie reads +0.000, not -0.000
        verdict = "beats it" if margin > 0 else "ties it" if margin == 0 else "does not beat it"
        verdicts.append(f"δ1 {name}: {student.get('artifact')} {format_value(mine, 'delta')}, best baseline "
                        f"{format_value(best, 'delta')} ({label}): {margin:+.3f}, {verdict}")
    return headers, cells, verdicts


def detail_tables(report: dict) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per dataset, every accuracy metric any row reports (header and cells)."""
    tables = {}
    for name in dataset_names(report):
        rows = [r for r in ordered_rows(report) if (r.get("accuracy") or {}).get(name)]
        if not rows:
            continue
        keys = {k for r in rows for k in r["accuracy"][name]}
        columns = [(k, *metric_column(k)) for k in _column_order(keys)]
        headers = ["Artifact"] + [label for _, label, _ in columns]
        cells = [[str(r.get("artifact", MISSING))] + [format_value(r["accuracy"][name].get(k), kind)
                                                     for k, _, kind in columns] for r in rows]
        tables[name] = (headers, cells)
    return tables


def reasons(report: dict) -> list[str]:
    """'artifact (status): reason' for every row that is not ok, and 'artifact: notes' for an artifact row that
    carries notes (an emulation standing in for a backend that cannot run here)."""
    lines = []
    for row in ordered_rows(report):
        status = row.get("status", "ok")
        if status != "ok":
            lines.append(f"{row.get('artifact', MISSING)} ({status}): "
                         f"{row.get('reason') or 'no reason recorded'}")
        elif row.get("notes") and not row.get("reference"):
            lines.append(f"{row.get('artifact', MISSING)}: {row['notes']}")
    return lines


def _describe(value: Any, limit: int = 240) -> str:
    """A compact one-line description of a reference entry (a string or a dict of mostly scalars)."""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, dict):
                item = item.get("name", "{…}")
            elif isinstance(item, list) and len(item) > 6:
                item = "[…]"
            parts.append(f"{key}={item}")
        text = ", ".join(parts)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _samples(count: Any) -> str:
    return f"{count} sample" + ("" if count == 1 else "s") if count is not None else "? samples"


def header_lines(report: dict) -> list[tuple[str, str]]:
    """(label, text) pairs of the report's header: toolkit, date, machine, task, reference, datasets."""
    machine = report.get("machine") or {}
    machine_text = ", ".join(str(p) for p in (
        machine.get("cpu"), f"{machine['cores']} cores" if machine.get("cores") else None, machine.get("os"),
        machine.get("board")) if p)
    reference = report.get("reference")
    if isinstance(reference, dict):
        reference_text = "; ".join(f"{key}: {_describe(value)}" for key, value in reference.items())
    else:
        reference_text = _describe(reference) if reference else MISSING
    datasets = []
    for name, info in (report.get("datasets") or {}).items():
        if isinstance(info, dict):
            size = "×".join(str(v) for v in info.get("resolution", [])) if info.get("resolution") else ""
            datasets.append(f"{name}: {_samples(info.get('samples'))}" + (f" ({size})" if size else ""))
        else:
            datasets.append(f"{name}: {_samples(info)}")
    return [("Toolkit", f"edgedepth {report.get('toolkit_version', MISSING)}"),
            ("Created", str(report.get("created", MISSING))), ("Machine", machine_text or MISSING),
            ("Threads", str(machine.get("threads", MISSING))), ("Task", str(report.get("task", MISSING))),
            ("Reference", reference_text), ("Datasets", "; ".join(datasets) or MISSING)]


def beats_section(report: dict) -> tuple[list[str], list[list[str]], list[str]] | None:
    """The "What the student beats" section of every rendering: the comparison table, then its notes (verdicts,
    what each baseline is, what the sanity columns mean); None when the report has no baseline rows."""
    comparison = baseline_comparison(report)
    if comparison is None:
        return None
    headers, cells, verdicts = comparison
    notes = list(verdicts)
    notes += [f"{r.get('artifact', MISSING)}: {r['notes']}" for r in ordered_rows(report)
              if is_baseline(r) and r.get("notes")]
    if has_sanity(report):
        notes.append(f"Sanity, {_sanity_scope(report)}: {SANITY_LEGEND}.")
    return headers, cells, notes


def use_section(report: dict) -> tuple[list[str], list[tuple[str, str]]] | None:
    """The "Use your model" section: what the run's shipped bundle made of the motorcycle, as a user would run it
    (lines of text, then (caption, relative path) pictures: the portrait beside its depth map); None without."""
    use = report.get("use")
    if not isinstance(use, dict) or "portrait" not in use:
        return None
    lines = [f"Bundle {use.get('bundle', MISSING)}, model {use.get('latency_ms', MISSING)} ms; the same with "
             f"your photo: `{use.get('command', MISSING)}`"]
    if use.get("point_cloud"):
        lines.append(f"Point cloud: {use['point_cloud']} ({use.get('points', MISSING)} points, metric from the "
                     f"pair's calibration; median depth {use.get('median_depth_m', MISSING)} m)")
    return lines, [("portrait", use["portrait"]), ("depth", use["depth"])]


DEVICE_LEGEND = ("Device rows come from `python -m runtime bench --json` or `edgedepth profile --adb` on that "
                 "device, merged with `edgedepth report --merge`; host FPS is the same artifact's in the tables "
                 "above. Device p50: the median where the tool prints one, else its mean. Memory: benchmark_model's "
                 "peak footprint when monitored, else its footprint growth over the run. Output diff: mean |delegate "
                 "− single-threaded CPU| of the raw outputs on random inputs (inference_diff), largest over outputs.")


def _device_text(device: dict) -> str:
    """'name: SoC or CPU, OS, ABI' of one device."""
    machine = device.get("machine") or {}
    parts = [machine.get("cpu"), machine.get("os"), machine.get("arch")]
    return f"{device.get('name', MISSING)}: " + ", ".join(str(p) for p in parts if p)


def devices_section(report: dict) -> tuple[list[str], list[list[str]], list[str]] | None:
    """The "Measured on devices" section: one line per device row beside the host's FPS for the same artifact
    (headers, cells), then notes (what each device is, what the columns mean); None without device rows."""
    rows = [r for r in report.get("device_rows") or [] if isinstance(r, dict)]
    if not rows:
        return None
    host = {r.get("artifact"): r for r in report.get("rows", []) if not r.get("reference")}
    names = list(dict.fromkeys(str((r.get("device") or {}).get("name", MISSING)) for r in rows))
    headers = ["Artifact", "Device", "Backend", "Status", "Threads", "p50 ms", "Device FPS", "Host FPS", "Init ms",
               "Memory MB", "Output diff vs CPU"]
    cells = []
    for name in names:
        for row in (r for r in rows if str((r.get("device") or {}).get("name", MISSING)) == name):
            memory = row.get("memory_mb") or {}
            cells.append([str(row.get("artifact", MISSING)), name, str(row.get("backend") or MISSING),
                          status_text(row), str(row.get("threads", MISSING)),
                          format_value(_get(row, ("latency_ms", "p50")), "ms"), format_value(row.get("fps"), "fps"),
                          format_value((host.get(row.get("artifact")) or {}).get("fps"), "fps"),
                          format_value(row.get("init_ms"), "fps"),
                          format_value(memory.get("peak", memory.get("overall")), "size"),
                          format_value(_get(row, ("output_diff", "avg_error")), "general")])
    devices = {str((r.get("device") or {}).get("name", MISSING)): r.get("device") or {} for r in rows}
    notes = [_device_text({"name": name, **devices[name]}) for name in names]
    notes += [f"{r.get('artifact', MISSING)} on {(r.get('device') or {}).get('name', MISSING)} ({r.get('status')}): "
              f"{r.get('reason') or 'no reason recorded'}" for r in rows if r.get("status", "ok") != "ok"]
    return headers, cells, notes + [DEVICE_LEGEND]
