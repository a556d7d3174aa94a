"""Job metrics in the Prometheus text format, node_exporter textfile style.

Each stage run writes ``etl_<stage>.prom`` in the metrics directory
(atomically); ``serve-metrics`` merges all ``*.prom`` files of the directory
into one valid exposition (one HELP/TYPE per metric family).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from etl.atomic import ensure_dir, write_text

GAUGES: List[Tuple[str, str]] = [
    ("etl_stage_last_run_timestamp_seconds", "Unix time the stage last finished, successfully or not."),
    ("etl_stage_last_success_timestamp_seconds", "Unix time the stage last finished successfully (0: never)."),
    ("etl_stage_last_run_success", "1 if the last run of the stage succeeded, 0 if it failed."),
    ("etl_stage_last_exit_code", "Exit code of the last run of the stage (see the ETL README)."),
    ("etl_stage_duration_seconds", "Wall-clock duration of the last run of the stage."),
    ("etl_stage_rows_processed", "Rows handled by the last run of the stage."),
    ("etl_stage_bad_rows", "Rows rejected as invalid by the last run of the stage."),
    ("etl_stage_rows_per_second", "Throughput of the last run of the stage."),
    ("etl_stage_database_seconds", "Time the last run spent writing rows into the database (load)."),
    ("etl_stage_database_rows_per_second", "Database write throughput of the last run (load)."),
]

_SAMPLE_RE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?P<labels>\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\]|\\.)*\",?)*\})?"
    r"[ \t]+(?P<value>\S+)(?:[ \t]+(?P<ts>-?[0-9]+))?$"
)
_VALID_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def metrics_path(metrics_dir: str, stage: str) -> str:
    return os.path.join(metrics_dir, f"etl_{stage}.prom")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_stage_metrics(stage: str, values: Dict[str, float]) -> str:
    lines = []
    label = f'{{stage="{_escape(stage)}"}}'
    for name, help_text in GAUGES:
        if name not in values:
            continue
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name}{label} {_fmt(values[name])}")
    return "\n".join(lines) + "\n"


def previous_value(path: str, name: str) -> Optional[float]:
    """Value of the first sample called ``name`` in an existing .prom file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    try:
        parsed = parse_exposition(text)
    except ValueError:
        return None
    for family in parsed.values():
        for sample_name, _labels, value in family.samples:
            if sample_name == name:
                try:
                    return float(value)
                except ValueError:
                    return None
    return None


def write_stage_metrics(
    metrics_dir: str,
    stage: str,
    *,
    finished_at: float,
    exit_code: int,
    duration: float,
    rows: int,
    bad_rows: int,
    extra: Optional[Dict[str, float]] = None,
) -> str:
    """Write the stage's metrics file; keeps the last success time of a
    previous run when this run failed.  Returns the file path."""
    path = metrics_path(metrics_dir, stage)
    success = exit_code == 0
    if success:
        last_success = finished_at
    else:
        last_success = previous_value(path, "etl_stage_last_success_timestamp_seconds") or 0.0
    values = {
        "etl_stage_last_run_timestamp_seconds": round(finished_at, 3),
        "etl_stage_last_success_timestamp_seconds": round(last_success, 3),
        "etl_stage_last_run_success": 1 if success else 0,
        "etl_stage_last_exit_code": exit_code,
        "etl_stage_duration_seconds": round(duration, 3),
        "etl_stage_rows_processed": rows,
        "etl_stage_bad_rows": bad_rows,
        "etl_stage_rows_per_second": round(rows / duration, 1) if duration > 0 else 0,
    }
    if success and extra:
        values.update(extra)
    ensure_dir(metrics_dir)
    write_text(path, render_stage_metrics(stage, values))
    return path


@dataclass
class Family:
    name: str
    help: Optional[str] = None
    type: Optional[str] = None
    samples: List[Tuple[str, str, str]] = field(default_factory=list)  # name, labels, value


def _family_of(sample: str, families: Dict[str, Family]) -> str:
    for suffix in ("_bucket", "_sum", "_count", "_created", "_total"):
        if sample.endswith(suffix):
            base = sample[: -len(suffix)]
            if base in families and families[base].type in ("histogram", "summary", "counter"):
                return base
    return sample


def parse_exposition(text: str) -> Dict[str, Family]:
    """Parse Prometheus text format; raises ValueError on a malformed line."""
    families: Dict[str, Family] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                family = families.setdefault(name, Family(name))
                if parts[1] == "HELP":
                    family.help = parts[3] if len(parts) > 3 else ""
                else:
                    kind = parts[3].strip() if len(parts) > 3 else ""
                    if kind not in _VALID_TYPES:
                        raise ValueError(f"line {number}: unknown metric type {kind!r}")
                    if family.type is not None and family.type != kind:
                        raise ValueError(f"line {number}: second TYPE for {name}")
                    family.type = kind
            continue
        match = _SAMPLE_RE.match(line)
        if not match:
            raise ValueError(f"line {number}: not a valid sample: {line[:80]!r}")
        value = match.group("value")
        try:
            float(value.replace("Inf", "inf"))
        except ValueError as exc:
            raise ValueError(f"line {number}: bad value {value!r}") from exc
        name = match.group("name")
        family = families.setdefault(_family_of(name, families), Family(_family_of(name, families)))
        family.samples.append((name, match.group("labels") or "", value))
    return families


def merge_directory(metrics_dir: str, now: float) -> str:
    """One exposition from every ``*.prom`` file of ``metrics_dir``.

    A file that does not parse is skipped as a whole (and counted in
    ``etl_textfile_scrape_error``), like node_exporter's textfile collector.
    """
    merged: Dict[str, Family] = {}
    seen: set = set()
    mtimes: List[Tuple[str, float]] = []
    error = 0
    try:
        names = sorted(n for n in os.listdir(metrics_dir) if n.endswith(".prom"))
    except OSError:
        names = []
        error = 1
    for name in names:
        path = os.path.join(metrics_dir, name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            mtime = os.stat(path).st_mtime
            parsed = parse_exposition(text)
        except (OSError, UnicodeDecodeError, ValueError):
            error = 1
            continue
        mtimes.append((name, mtime))
        for family in parsed.values():
            target = merged.setdefault(family.name, Family(family.name))
            if target.type and family.type and target.type != family.type:
                error = 1
                continue
            target.help = target.help or family.help
            target.type = target.type or family.type
            for sample in family.samples:
                key = (sample[0], sample[1])
                if key in seen:  # duplicates make the whole scrape fail
                    continue
                seen.add(key)
                target.samples.append(sample)
    out: List[str] = []
    for family in merged.values():
        if not family.samples:
            continue
        if family.help is not None:
            out.append(f"# HELP {family.name} {family.help}")
        out.append(f"# TYPE {family.name} {family.type or 'untyped'}")
        out.extend(f"{n}{labels} {value}" for n, labels, value in family.samples)
    out.append("# HELP etl_textfile_mtime_seconds Modification time of each metrics file.")
    out.append("# TYPE etl_textfile_mtime_seconds gauge")
    out.extend(f'etl_textfile_mtime_seconds{{file="{_escape(n)}"}} {_fmt(round(m, 3))}' for n, m in mtimes)
    out.append("# HELP etl_textfile_scrape_error 1 if a metrics file could not be read or parsed.")
    out.append("# TYPE etl_textfile_scrape_error gauge")
    out.append(f"etl_textfile_scrape_error {error}")
    out.append("# HELP etl_metrics_server_time_seconds Current time of the metrics server.")
    out.append("# TYPE etl_metrics_server_time_seconds gauge")
    out.append(f"etl_metrics_server_time_seconds {_fmt(round(now, 3))}")
    return "\n".join(out) + "\n"


def iter_families(text: str) -> Iterable[Family]:
    return parse_exposition(text).values()
