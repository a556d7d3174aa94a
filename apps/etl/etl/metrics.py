"""Job metrics in the Prometheus text format, node_exporter textfile style.

Each stage run writes ``etl_<stage>.prom`` in the metrics directory
(atomically); ``serve-metrics`` merges all ``*.prom`` files of the directory
into one valid exposition (one HELP/TYPE per metric family). Rendering and
parsing are prometheus_client's (exposition and text parser), not our own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

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

def metrics_path(metrics_dir: str, stage: str) -> str:
    return os.path.join(metrics_dir, f"etl_{stage}.prom")


def render_stage_metrics(stage: str, values: Dict[str, float]) -> str:
    families = []
    for name, help_text in GAUGES:
        if name in values:
            family = GaugeMetricFamily(name, help_text, labels=["stage"])
            family.add_metric([stage], values[name])
            families.append(family)
    return _render(families)


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


class _Families:
    """A collector handing prometheus_client's exposition a fixed set of families."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def _render(families: Iterable[Metric]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry).decode("utf-8")


def _parse(text: str) -> List[Metric]:
    """prometheus_client's text-format parser; ValueError on a malformed line."""
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError, TypeError) as exc:  # the parser raises all of these
        raise ValueError(f"not a valid exposition: {exc}") from exc


def _labels_text(labels: Dict[str, str]) -> str:
    if not labels:
        return ""
    escaped = (v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for v in labels.values())
    return "{" + ",".join(f'{k}="{v}"' for k, v in zip(labels, escaped)) + "}"


def parse_exposition(text: str) -> Dict[str, Family]:
    """Families of a Prometheus text exposition (samples as name, labels text,
    value text); raises ValueError on a malformed line."""
    families: Dict[str, Family] = {}
    for metric in _parse(text):
        family = families.setdefault(metric.name, Family(metric.name, metric.documentation or None,
                                                         metric.type))
        family.samples.extend((sample.name, _labels_text(sample.labels), repr(float(sample.value)))
                              for sample in metric.samples)
    return families


def merge_directory(metrics_dir: str, now: float) -> str:
    """One exposition from every ``*.prom`` file of ``metrics_dir``.

    A file that does not parse is skipped as a whole (and counted in
    ``etl_textfile_scrape_error``), like node_exporter's textfile collector.
    """
    merged: Dict[str, Metric] = {}
    seen: set = set()
    mtime = GaugeMetricFamily("etl_textfile_mtime_seconds", "Modification time of each metrics file.",
                              labels=["file"])
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
            modified = os.stat(path).st_mtime
            parsed = _parse(text)
        except (OSError, UnicodeDecodeError, ValueError):
            error = 1
            continue
        mtime.add_metric([name], round(modified, 3))
        for family in parsed:
            target = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            if target.type != family.type:
                error = 1
                continue
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key in seen:  # duplicates make the whole scrape fail
                    continue
                seen.add(key)
                target.samples.append(sample)
    error_family = GaugeMetricFamily("etl_textfile_scrape_error",
                                     "1 if a metrics file could not be read or parsed.", value=error)
    server_time = GaugeMetricFamily("etl_metrics_server_time_seconds", "Current time of the metrics server.",
                                    value=round(now, 3))
    families = [family for family in merged.values() if family.samples]
    return _render(families + [mtime, error_family, server_time])


def iter_families(text: str) -> Iterable[Family]:
    return parse_exposition(text).values()
