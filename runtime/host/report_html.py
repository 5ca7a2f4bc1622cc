"""report.html: the markdown report's tables and pictures as one self-contained page (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from runtime.host.report_model import (
    STATUSES,
    beats_section,
    dataset_protocol,
    detail_tables,
    devices_section,
    header_lines,
    legend,
    ordered_rows,
    reasons,
    speed_fidelity_table,
    summary_table,
    use_section,
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.ref td { background: #f8f8ff; } p.legend { max-width: 60rem; font-size: 0.85rem; color: #555; }
img { max-width: 100%; margin: 0.5rem 0; } img.plot { max-width: 900px; }
td.status { font-weight: 600; } td.ok { color: #17653a; background: #e6f4ea; }
td.skipped { color: #7a5b00; background: #fdf6dc; } td.failed { color: #a3121f; background: #fce8e8; }
main { max-width: 1360px; } table { max-width: 100%; } h3 { margin-top: 1.5rem; }
div.pair { display: flex; gap: 1rem; } div.pair figure { flex: 1; margin: 0; }
"""


def _cell(index: int, text: str, text_columns: int, status_column: int | None) -> str:
    """One <td>: numbers right-aligned; the status in words with its colour (never a glyph alone)."""
    if index == status_column:
        word = text.split(",")[0].strip()
        return f'<td class="status {escape(word if word in STATUSES else "other")}">{escape(text)}</td>'
    return f'<td class="num">{escape(text)}</td>' if index >= text_columns else f"<td>{escape(text)}</td>"


def _table(headers: list[str], cells: list[list[str]], text_columns: int, reference_rows: int = 0,
           status_column: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(cells):
        tds = "".join(_cell(i, c, text_columns, status_column) for i, c in enumerate(row))
        body.append(f'<tr class="ref">{tds}</tr>' if index < reference_rows else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: dict) -> str:
    """The HTML page of a Contract-2 report (same content as report.md)."""
    references = sum(1 for row in ordered_rows(report) if row.get("reference"))
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>edgedepth report</title>',
             f"<style>{_STYLE}</style></head><body>", "<h1>edgedepth report</h1><ul>"]
    parts += [f"<li><b>{escape(label)}</b>: {escape(text)}</li>" for label, text in header_lines(report)]
    parts += ["</ul>", "<h2>Summary</h2>", _table(*summary_table(report), 2, references, status_column=1),
              f'<p class="legend">{escape(legend(report))}</p>']
    if report.get("plot"):
        parts.append(f'<img class="plot" src="{escape(report["plot"], quote=True)}" alt="accuracy against FPS">')
    parts += ["<h2>Speed and fidelity, all numbers</h2>", _table(*speed_fidelity_table(report), 4, references)]
    devices = devices_section(report)
    if devices is not None:
        headers, cells, notes = devices
        parts += ["<h2>Measured on devices</h2>", _table(headers, cells, 4, status_column=3), "<ul>"]
        parts += [f"<li>{escape(line)}</li>" for line in notes] + ["</ul>"]
    section = beats_section(report)
    if section is not None:
        headers, cells, notes = section
        parts += ["<h2>What the student beats</h2>", _table(headers, cells, 1), "<ul>"]
        parts += [f"<li>{escape(line)}</li>" for line in notes] + ["</ul>"]
    problems = reasons(report)
    if problems:
        parts += ["<h2>Reasons</h2><ul>"] + [f"<li>{escape(line)}</li>" for line in problems] + ["</ul>"]
    details = detail_tables(report)
    if details:
        parts.append("<h2>Accuracy against ground truth, all metrics</h2>")
        for name, (headers, cells) in details.items():
            protocol = dataset_protocol(report, name)
            parts += [f"<h3>{escape(name)}</h3>"] + ([f"<p>Protocol {escape(protocol)}</p>"] if protocol else [])
            parts.append(_table(headers, cells, 1))
    use = use_section(report)
    if use is not None:
        lines, shown = use
        parts += ["<h2>Use your model</h2><ul>"] + [f"<li>{escape(line)}</li>" for line in lines] + ["</ul>"]
        parts += ['<div class="pair">'] + [
            f'<figure><img src="{escape(path, quote=True)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>" for caption, path in shown] + ["</div>"]
    pictures = report.get("pictures") or []
    if pictures:
        parts.append("<h2>Pictures</h2>")
        parts += [f'<figure><img src="{escape(Path(p).as_posix(), quote=True)}" alt="{escape(Path(p).stem)}">'
                  f"<figcaption>{escape(Path(p).stem)}</figcaption></figure>" for p in pictures]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
