"""Contract 2 rendering: report.json (strict JSON), report.md (the table a person reads) and report.html.

report.json follows `runtime.jsonsafe`: +inf → "inf" (PSNR of identical outputs), −inf → "-inf", NaN → null.
In the tables, infinite PSNR reads "∞" and a missing or undefined value reads "—". What the tables hold comes
from `runtime.host.report_model`; this module lays it out as markdown and writes the three files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtime.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from runtime.host.report_html import render_html
from runtime.host.report_model import (
    SANITY_LEGEND,
    baseline_comparison,
    beats_section,
    dataset_protocol,
    detail_tables,
    devices_section,
    header_lines,
    legend,
    reasons,
    speed_fidelity_table,
    summary_table,
    use_section,
)
from runtime.host.report_plot import accuracy_fps_png
from runtime.rows import STUDENT_REFERENCE, format_value

PLOT_FILE = "accuracy_fps.png"


def _escape(text: Any) -> str:
    """A table cell or list item as markdown text: no raw HTML (a device file's `<script>` shows as text), no
    line break, no column break."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\n", " "))



def markdown_table(headers: list[str], cells: list[list[str]], text_columns: int = 1) -> str:
    """A GitHub-flavoured markdown table: the first `text_columns` left-aligned, the numbers right-aligned."""
    align = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(_escape(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in cells]
    return "\n".join(lines)



def render_markdown(report: dict) -> str:
    """report.md: header, the summary table (reference rows first), legend, reasons, per-dataset details."""
    out = ["# edgedepth report", ""]
    out += [f"- **{label}**: {_escape(text)}" for label, text in header_lines(report)]
    out += ["", "## Summary", "", markdown_table(*summary_table(report), text_columns=2), "", legend(report), ""]
    if report.get("plot"):
        out += [f"![accuracy against FPS]({report['plot']})", ""]
    out += ["## Speed and fidelity, all numbers", "", markdown_table(*speed_fidelity_table(report), text_columns=4),
            ""]
    devices = devices_section(report)
    if devices is not None:
        headers, cells, notes = devices
        out += ["## Measured on devices", "", markdown_table(headers, cells, text_columns=4), ""]
        out += [f"- {_escape(line)}" for line in notes] + [""]
    section = beats_section(report)
    if section is not None:
        headers, cells, notes = section
        out += ["## What the student beats", "", markdown_table(headers, cells), ""]
        out += [f"- {_escape(line)}" for line in notes] + [""]
    problems = reasons(report)
    if problems:
        out += ["## Reasons", ""] + [f"- {_escape(line)}" for line in problems] + [""]
    details = detail_tables(report)
    if details:
        out += ["## Accuracy against ground truth, all metrics", ""]
        for name, (headers, cells) in details.items():
            protocol = dataset_protocol(report, name)
            out += [f"### {name}", ""] + ([f"Protocol {_escape(protocol)}", ""] if protocol else [])
            out += [markdown_table(headers, cells), ""]
    use = use_section(report)
    if use is not None:
        lines, shown = use
        out += ["## Use your model", ""] + [f"- {line}" for line in lines] + [""]
        out += [" ".join(f"![{caption}]({path})" for caption, path in shown), ""]
    pictures = report.get("pictures") or []
    if pictures:
        out += ["## Pictures", ""] + [f"![{Path(p).stem}]({Path(p).as_posix()})" for p in pictures] + [""]
    return "\n".join(out)



def write_report(out_dir: str | os.PathLike, report: dict) -> None:
    """Write report.json (strict JSON: inf → "inf", NaN → null), report.md, report.html and, when rows have speed
    and accuracy, the accuracy-against-FPS plot into `out_dir`."""
    out_dir = Path(out_dir)
    plot = accuracy_fps_png(report)
    if plot is not None:
        report = {**report, "plot": PLOT_FILE}
    # Everything rendered first: a row that cannot be rendered changes no file, rather than leaving a new
    # report.json beside an old report.md.
    markdown, html = render_markdown(report), render_html(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    if plot is not None:
        atomic_write_bytes(out_dir / PLOT_FILE, plot)
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", markdown)
    atomic_write_text(out_dir / "report.html", html)




__all__ = ["SANITY_LEGEND", "STUDENT_REFERENCE", "baseline_comparison", "format_value", "markdown_table",
           "render_markdown", "summary_table", "write_report"]
