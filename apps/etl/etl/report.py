"""Report (visualise) stage: ``report.html`` from the load stage's
``summary.json``: key figures, inline SVG bar charts (no JavaScript, nothing
fetched from a CDN), per-course table, bad rows by reason, and optionally a
resource snapshot (``docker stats``-like JSON given by ETL_REPORT_STATS_FILE).
"""

from __future__ import annotations

import json
import logging
import os
import time
from html import escape
from typing import Any, Dict, List, Optional, Sequence, Tuple

from etl.atomic import ensure_dir, write_text
from etl.config import Settings
from etl.errors import InputError
from etl.load import SUMMARY_JSON
from etl.stage import StageResult

log = logging.getLogger("etl.report")

REPORT_FILE = "report.html"
STATS_COLUMNS = ("Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")


def bar_chart(
    title: str,
    items: Sequence[Tuple[str, float]],
    max_value: float,
    value_format: str = "{:.2f}",
    color: str = "#3465a4",
) -> str:
    """A horizontal bar chart as inline SVG."""
    row_h, label_w, bar_w, pad = 24, 200, 360, 8
    height = pad * 2 + row_h * max(len(items), 1) + 24
    width = label_w + bar_w + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="chart"><title>{escape(title)}</title>',
        f'<text x="{pad}" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    scale = bar_w / max_value if max_value > 0 else 0
    for n, (label, value) in enumerate(items):
        y = pad + 24 + n * row_h
        length = max(0.0, min(bar_w, value * scale))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(str(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" fill="{color}">'
            f"<title>{escape(str(label))}: {escape(value_format.format(value))}</title></rect>"
            f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{escape(value_format.format(value))}</text>'
        )
    if not items:
        parts.append(f'<text x="{pad}" y="{pad + 40}">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def load_stats(path: Optional[str]) -> Tuple[Optional[List[Dict[str, Any]]], Optional[str]]:
    """Entries of a docker stats snapshot: a JSON array, or JSON lines as
    printed by ``docker stats --no-stream --format '{{json .}}'``.
    Returns (entries, problem)."""
    if not path:
        return None, None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        return None, f"{path} cannot be read: {exc.strerror or exc}"
    try:
        data = json.loads(text)
        entries = data if isinstance(data, list) else [data]
    except ValueError:
        try:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            return None, f"{path} is neither JSON nor JSON lines: {exc}"
    entries = [e for e in entries if isinstance(e, dict)]
    return entries, None


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(summary: Dict[str, Any], stats: Optional[List[Dict[str, Any]]], stats_problem: Optional[str],
           stats_requested: bool) -> str:
    overall = summary.get("overall", {})
    departments = summary.get("by_department", [])
    bands = summary.get("by_age_band", [])
    reasons = summary.get("bad_by_reason", {})
    courses = summary.get("by_course", [])
    extracted = summary.get("rows_extracted") or 0
    bad = summary.get("bad_rows") or 0
    load = summary.get("load", {})
    figures = [
        ("Rows extracted", extracted),
        ("Valid rows", summary.get("rows_valid", 0)),
        ("Bad rows", f"{bad} ({(bad / extracted if extracted else 0):.2%})"),
        ("Average grade (/20)", overall.get("avg_score_20", 0)),
        ("Pass rate", f"{overall.get('pass_rate', 0):.1%}"),
        ("Load mode", load.get("mode", "")),
        ("Generated", summary.get("generated_at", "")),
    ]
    charts = [
        bar_chart(
            "Average grade (/20) by department",
            [(d["department"], float(d["avg_score_20"])) for d in departments],
            20.0,
        ),
        bar_chart(
            "Pass rate by age band",
            [(b["age_band"], float(b["pass_rate"]) * 100) for b in bands],
            100.0,
            "{:.1f} %",
            "#4e9a06",
        ),
        bar_chart(
            "Bad rows by reason",
            [(r, float(n)) for r, n in reasons.items()],
            float(max(list(reasons.values()) + [1])),
            "{:.0f}",
            "#cc0000",
        ),
    ]
    sections = [
        "<h2>Key figures</h2>",
        _table(["Figure", "Value"], figures),
        "<h2>Charts</h2>",
        '<div class="charts">' + "".join(charts) + "</div>",
        "<h2>Courses</h2>",
        _table(
            ["Code", "Title", "Department", "Grades", "Average /20", "Pass rate"],
            [
                (c["course_code"], c["course_title"], c["department"], c["grades"],
                 f'{c["avg_score_20"]:.2f}', f'{c["pass_rate"]:.1%}')
                for c in courses
            ],
        ),
    ]
    if stats_requested:
        sections.append("<h2>Resource usage snapshot</h2>")
        if stats:
            sections.append(
                _table(STATS_COLUMNS, [[e.get(col, "") for col in STATS_COLUMNS] for e in stats])
            )
        else:
            sections.append(f"<p>Not available: {escape(stats_problem or 'empty snapshot')}</p>")
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
        "th{background:#eee}.chart{margin:1em 2em 1em 0;font-size:13px}"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>School ETL report</title>"
        f"<style>{style}</style></head><body>"
        "<h1>School ETL report</h1>" + "".join(sections) + "</body></html>\n"
    )


def run(settings: Settings) -> StageResult:
    path = os.path.join(settings.output_dir, SUMMARY_JSON)
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except FileNotFoundError as exc:
        raise InputError(f"{path} not found: run the load stage first") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read: {exc}") from exc
    stats, problem = load_stats(settings.report_stats_file)
    if problem:
        log.warning("resource snapshot skipped: %s", problem)
    started = time.time()
    try:
        html = render(summary, stats, problem, settings.report_stats_file is not None)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path} does not look like a load summary: {exc!r}") from exc
    target = os.path.join(settings.output_dir, REPORT_FILE)
    ensure_dir(settings.output_dir)
    write_text(target, html)
    log.info("report written file=%s bytes=%d seconds=%.3f", target, len(html), time.time() - started)
    return StageResult(rows=int(summary.get("rows_valid") or 0), bad_rows=0)
