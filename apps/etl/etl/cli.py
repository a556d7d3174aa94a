"""Command line: ``python -m etl <command>``.

Stages (one container each, run in this order): extract, transform, load,
report (alias visualise).  Long-running: serve-metrics.  Helpers:
wait-db, healthcheck, version.  Exit codes: see etl.errors / README.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Mapping, Optional

from etl import __version__
from etl import db, extract, load, report, server, transform
from etl.config import Settings, load_settings
from etl.errors import (
    EXIT_CODES,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EtlError,
    Interrupted,
)
from etl.metrics import write_stage_metrics
from etl.stage import StageResult

log = logging.getLogger("etl")

STAGES: Dict[str, Callable[[Settings], StageResult]] = {
    "extract": extract.run,
    "transform": transform.run,
    "load": load.run,
    "report": report.run,
}
ALIASES = {"visualise": "report", "visualize": "report"}


class _StageFilter(logging.Filter):
    stage = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.stage = self.stage
        return True


_STAGE_FILTER = _StageFilter()


class _Formatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        line = f"{stamp} level={record.levelname.lower()} stage={getattr(record, 'stage', '-')} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_etl", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._etl = True  # type: ignore[attr-defined]
    handler.setFormatter(_Formatter())
    handler.addFilter(_STAGE_FILTER)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("psycopg").setLevel(logging.WARNING)


def _epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl",
        description="School ETL: one stage per container; settings from ETL_* variables.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    sub.add_parser("extract", help="COPY the source rows to <work>/extract.csv (reader role)")
    sub.add_parser("transform", help="filter, normalise, enrich into <work>/transformed.csv")
    sub.add_parser("load", help="write CSV/JSON to <output> and the reporting tables (writer role)")
    sub.add_parser("report", aliases=["visualise", "visualize"], help="render <output>/report.html")
    sub.add_parser("serve-metrics", help="HTTP /metrics and /healthz on ETL_METRICS_PORT")
    wait = sub.add_parser("wait-db", help="wait for the database (ETL_DB_WAIT_SECONDS), then exit")
    wait.add_argument("--as-stage", choices=["extract", "load"], default="extract",
                      help="whose default database role to log in as")
    sub.add_parser("healthcheck", help="container HEALTHCHECK (checks serve-metrics when it is PID 1)")
    sub.add_parser("version", help="print the version")
    return parser


def run_stage(name: str, settings: Settings, func: Optional[Callable[[Settings], StageResult]] = None) -> int:
    """Run one stage: logs, exit code, metrics file."""
    func = func or STAGES[name]
    _STAGE_FILTER.stage = name
    started_wall = time.time()
    started = time.perf_counter()
    result = StageResult(rows=0, bad_rows=0)

    def interrupt(signum, _frame):
        code = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
        raise Interrupted(code, f"signal {signum} received")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("stage started version=%s", __version__)
    try:
        result = func(settings)
        code = EXIT_OK
    except EtlError as exc:
        code = exc.code
        if exc.result is not None:
            result = exc.result
        log.error("stage failed exit_code=%d reason=%r: %s", code, EXIT_CODES.get(code, "?"), exc)
    except Exception:  # a bug: keep the traceback
        code = EXIT_FAILURE
        log.exception("stage failed exit_code=%d (unexpected error)", code)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    duration = time.perf_counter() - started
    if settings.metrics_dir:
        try:
            path = write_stage_metrics(
                settings.metrics_dir,
                name,
                finished_at=started_wall + duration,
                exit_code=code,
                duration=duration,
                rows=result.rows,
                bad_rows=result.bad_rows,
                extra=result.extra,
            )
            log.debug("metrics written file=%s", path)
        except (OSError, EtlError) as exc:
            # Monitoring must not turn a good run into a failed one; the
            # "ETL stale" alert fires if no success is ever recorded.
            log.warning("metrics not written metrics_dir=%s: %s", settings.metrics_dir, exc)
    log.info(
        "stage finished exit_code=%d rows=%d bad_rows=%d seconds=%.3f",
        code, result.rows, result.bad_rows, duration,
    )
    return code


def healthcheck(settings: Settings, cmdline_path: str = "/proc/1/cmdline") -> int:
    """0 = healthy.  A batch stage is healthy while it runs; the metrics
    server must answer /healthz."""
    try:
        with open(cmdline_path, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        argv = []
    if b"serve-metrics" not in argv:
        return 0
    host = settings.metrics_addr
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.metrics_port}/healthz", timeout=3) as resp:
            return 0 if resp.status == 200 else 1
    except (OSError, urllib.error.URLError):
        return 1


def main(argv: Optional[List[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or usage error (2)
        return int(exc.code or 0)
    command = ALIASES.get(args.command, args.command)
    environ = os.environ if env is None else env
    setup_logging(environ.get("ETL_LOG_LEVEL", "INFO").upper()
                  if environ.get("ETL_LOG_LEVEL", "INFO").upper() in ("DEBUG", "INFO", "WARNING", "ERROR")
                  else "INFO")
    _STAGE_FILTER.stage = command
    if command == "version":
        print(__version__)
        return EXIT_OK
    try:
        settings = load_settings(environ)
    except EtlError as exc:
        log.error("configuration error exit_code=%d: %s", exc.code, exc)
        return exc.code
    setup_logging(settings.log_level)
    if command == "healthcheck":
        return healthcheck(settings)
    if command == "serve-metrics":
        return server.serve(settings.metrics_addr, settings.metrics_port, settings.metrics_dir)
    if command == "wait-db":
        try:
            db.connect(settings, args.as_stage).close()
        except EtlError as exc:
            log.error("exit_code=%d: %s", exc.code, exc)
            return exc.code
        return EXIT_OK
    return run_stage(command, settings)
