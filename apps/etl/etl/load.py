"""Load stage: publish the transformed rows.

* ``grades.csv`` / ``grades.json`` / ``rejected_rows.csv`` / ``summary.json``
  on the output volume, each replaced atomically (temporary file + fsync +
  os.replace): readers never see a half-written file, a failed run leaves
  the previous files untouched.  The files are published only after the
  database transaction committed.
* ``reporting.grade_facts`` and ``reporting.course_summary`` replaced in one
  transaction (TRUNCATE + load): other sessions see the old rows or the new
  ones, never a mix.  A row is appended to ``reporting.etl_runs``.

ETL_LOAD_MODE=copy (default) streams the CSV file unchanged through
``COPY ... FROM STDIN (FREEZE)`` -- constant memory, no per-row Python work
-- in a second thread while the main thread writes the JSON file, so the
database and the JSON encoding use a core each.  ETL_LOAD_MODE=naive
INSERTs row by row (same data, same transaction) for the benchmark.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
import threading
import time
from json.encoder import encode_basestring
from typing import Any, Dict, List, Optional, Tuple

import psycopg

from etl import db
from etl.atomic import BUFFER_SIZE, AtomicFile, AtomicGroup, copy_file, ensure_dir
from etl.config import Settings
from etl.errors import EtlError, InputError
from etl.stage import StageResult, read_meta, require_file
from etl.transform import OUTPUT_COLUMNS, REJECTS_FILE, TRANSFORM_META, TRANSFORMED_FILE

log = logging.getLogger("etl.load")

GRADES_CSV = "grades.csv"
GRADES_JSON = "grades.json"
REJECTED_CSV = "rejected_rows.csv"
SUMMARY_JSON = "summary.json"

FACT_TABLE = "reporting.grade_facts"
SUMMARY_TABLE = "reporting.course_summary"
RUNS_TABLE = "reporting.etl_runs"

INT_COLUMNS = ("grade_id", "enrolment_id", "student_id", "age", "credits", "semester")
FLOAT_COLUMNS = ("score", "max_score", "score_20")
BOOL_COLUMNS = ("passed",)
NULLABLE_COLUMNS = ("country",)  # empty string -> null (NULL in the database)

# JSON encoding of a transformed row without building a dict: numbers are
# copied as they are (after one regex checked them all), strings escaped by
# the json module's C encoder.
_POS = {name: i for i, name in enumerate(OUTPUT_COLUMNS)}
_TEMPLATE = "{" + ",".join(f"{json.dumps(c)}:%s" for c in OUTPUT_COLUMNS) + "}"
_NUMERIC_POS = [_POS[c] for c in INT_COLUMNS + FLOAT_COLUMNS]
_NUMERIC_RE = re.compile(
    ",".join([r"\d+"] * len(INT_COLUMNS) + [r"-?\d+(?:\.\d+)?"] * len(FLOAT_COLUMNS))
)
_STRING_POS = [
    i for i, c in enumerate(OUTPUT_COLUMNS)
    if c not in INT_COLUMNS + FLOAT_COLUMNS + BOOL_COLUMNS + NULLABLE_COLUMNS
]
_NULLABLE_POS = [_POS[c] for c in NULLABLE_COLUMNS]
_BOOL_POS = [_POS[c] for c in BOOL_COLUMNS]
_BOOLS = {"true": "true", "false": "false"}


def encode_row(row: List[str]) -> str:
    """One transformed CSV row as a JSON object (typed values).
    Raises ValueError when a numeric or boolean field is malformed."""
    if len(row) != len(OUTPUT_COLUMNS):
        raise ValueError(f"{len(row)} fields, expected {len(OUTPUT_COLUMNS)}")
    if _NUMERIC_RE.fullmatch(",".join([row[i] for i in _NUMERIC_POS])) is None:
        raise ValueError("malformed number")
    values = list(row)
    for i in _STRING_POS:
        values[i] = encode_basestring(values[i])
    for i in _NULLABLE_POS:
        values[i] = encode_basestring(values[i]) if values[i] else "null"
    for i in _BOOL_POS:
        try:
            values[i] = _BOOLS[values[i]]
        except KeyError:
            raise ValueError(f"malformed boolean {values[i]!r}") from None
    return _TEMPLATE % tuple(values)


def _check_header(header: List[str], path: str) -> None:
    if header != OUTPUT_COLUMNS:
        raise InputError(f"{path} has unexpected columns: {header[:5]}...")


def write_json_rows(source: str, out: AtomicFile) -> int:
    """Stream transformed.csv into a JSON array of objects, one per line.
    Returns the number of rows."""
    rows = 0
    with open(source, encoding="utf-8", newline="", buffering=BUFFER_SIZE) as handle:
        reader = csv.reader(handle)
        try:
            _check_header(next(reader), source)
        except StopIteration as exc:
            raise InputError(f"{source} is empty (no header)") from exc
        write = out.write
        write("[")
        sep = "\n"
        try:
            for row in reader:
                try:
                    line = encode_row(row)
                except ValueError as exc:
                    raise InputError(f"{source} line {reader.line_num}: {exc}") from exc
                write(sep)
                write(line)
                sep = ",\n"
                rows += 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{source} line {reader.line_num}: not valid CSV: {exc}") from exc
        write("\n]\n")
    return rows


def _copy_rows(conn: psycopg.Connection, source: str) -> int:
    columns = ", ".join(OUTPUT_COLUMNS)
    with conn.cursor() as cur:
        # HEADER MATCH: the server checks the file's header against the
        # column list, so a column-order mismatch cannot load silently.
        # FREEZE: allowed because the table was truncated in this
        # transaction; rows are written frozen (no later hint-bit rewrite).
        with cur.copy(
            f"COPY {FACT_TABLE} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER MATCH, FREEZE)"
        ) as copy:
            with open(source, "rb", buffering=0) as handle:
                while True:
                    chunk = handle.read(BUFFER_SIZE)
                    if not chunk:
                        break
                    copy.write(chunk)
        return cur.rowcount


def _insert_rows(conn: psycopg.Connection, source: str) -> int:
    """The naive way, kept for the benchmark: one INSERT per row."""
    columns = ", ".join(OUTPUT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(OUTPUT_COLUMNS))
    sql = f"INSERT INTO {FACT_TABLE} ({columns}) VALUES ({placeholders})"
    rows = 0
    with open(source, encoding="utf-8", newline="") as handle, conn.cursor() as cur:
        reader = csv.reader(handle)
        _check_header(next(reader), source)
        for row in reader:
            cur.execute(sql, [value if value != "" else None for value in row])
            rows += 1
    return rows


class _Gate:
    """Lets the database thread commit only if the file side succeeded."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False

    def release(self, ok: bool) -> None:
        self.ok = ok
        self.done.set()

    def wait(self) -> None:
        self.done.wait()
        if not self.ok:
            raise EtlError("output files failed: database transaction rolled back")


def load_database(
    settings: Settings, source: str, meta: Dict[str, Any], gate: Optional[_Gate] = None
) -> Tuple[int, float]:
    """Replace the reporting tables in one transaction.
    Returns (rows loaded, seconds spent loading the fact table)."""
    conn = db.connect(settings, "load")
    try:
        with conn.transaction():
            conn.execute(f"TRUNCATE {FACT_TABLE}, {SUMMARY_TABLE}")
            started = time.perf_counter()
            if settings.load_mode == "naive":
                rows = _insert_rows(conn, source)
            else:
                rows = _copy_rows(conn, source)
            seconds = time.perf_counter() - started
            if rows != meta["rows"]:
                raise InputError(
                    f"{source} loaded {rows} rows but the transform manifest says {meta['rows']}"
                )
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {SUMMARY_TABLE} (course_code, course_title, department, "
                    "grades, avg_score_20, pass_rate) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (c["course_code"], c["course_title"], c["department"], c["grades"],
                         c["avg_score_20"], c["pass_rate"])
                        for c in meta.get("by_course", [])
                    ],
                )
                cur.execute(
                    f"INSERT INTO {RUNS_TABLE} (load_mode, rows_loaded, bad_rows, duration_seconds) "
                    "VALUES (%s, %s, %s, %s)",
                    (settings.load_mode, rows, meta.get("bad_rows", 0), round(seconds, 3)),
                )
            if gate is not None:
                gate.wait()  # raising here rolls the transaction back
    except psycopg.Error as exc:
        raise db.wrap_db_error(exc, f"loading {FACT_TABLE} failed (transaction rolled back)") from exc
    finally:
        conn.close()
    return rows, seconds


class _DbThread(threading.Thread):
    def __init__(self, settings: Settings, source: str, meta: Dict[str, Any]) -> None:
        super().__init__(name="db-load", daemon=True)
        self.args_ = (settings, source, meta)
        self.gate = _Gate()
        self.result: Optional[Tuple[int, float]] = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.result = load_database(*self.args_, gate=self.gate)
        except BaseException as exc:  # handed over to the main thread
            self.error = exc


def run(settings: Settings) -> StageResult:
    meta = read_meta(os.path.join(settings.work_dir, TRANSFORM_META), "transform")
    source = os.path.join(settings.work_dir, TRANSFORMED_FILE)
    rejects = os.path.join(settings.work_dir, REJECTS_FILE)
    require_file(source, "transform")
    require_file(rejects, "transform")
    ensure_dir(settings.output_dir)
    started = time.time()
    out = settings.output_dir
    db_thread: Optional[_DbThread] = None
    rows = meta["rows"]
    json_seconds: Optional[float] = None
    # The database thread needs the GIL only briefly per 1 MiB chunk: a
    # short switch interval keeps the JSON encoding from starving it.
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        with AtomicGroup() as group:
            if settings.load_db:
                db_thread = _DbThread(settings, source, meta)
                db_thread.start()
            files_ok = False
            try:
                if settings.load_files:
                    with open(source, "rb") as handle:
                        copy_file(handle, group.open(os.path.join(out, GRADES_CSV), "wb"))
                    with open(rejects, "rb") as handle:
                        copy_file(handle, group.open(os.path.join(out, REJECTED_CSV), "wb"))
                    json_started = time.perf_counter()
                    rows = write_json_rows(source, group.open(os.path.join(out, GRADES_JSON)))
                    json_seconds = time.perf_counter() - json_started
                    if rows != meta["rows"]:
                        raise InputError(
                            f"{source} holds {rows} rows but the transform manifest says "
                            f"{meta['rows']}: run transform again"
                        )
                    group.sync_all()
                files_ok = True
            finally:
                if db_thread is not None:
                    db_thread.gate.release(files_ok)
                    db_thread.join()
            db_rows: Optional[int] = None
            db_seconds: Optional[float] = None
            if db_thread is not None:
                if db_thread.error is not None:
                    raise db_thread.error
                assert db_thread.result is not None
                db_rows, db_seconds = db_thread.result
                rows = db_rows
                log.info(
                    "database loaded table=%s mode=%s rows=%d seconds=%.3f rows_per_second=%.0f",
                    FACT_TABLE, settings.load_mode, db_rows, db_seconds,
                    db_rows / db_seconds if db_seconds else 0,
                )
            summary = {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "rows_extracted": meta.get("rows_in"),
                "rows_valid": rows,
                "bad_rows": meta.get("bad_rows", 0),
                "bad_by_reason": meta.get("bad_by_reason", {}),
                "overall": meta.get("overall", {}),
                "by_course": meta.get("by_course", []),
                "by_department": meta.get("by_department", []),
                "by_age_band": meta.get("by_age_band", []),
                "by_mention": meta.get("by_mention", {}),
                "load": {
                    "mode": settings.load_mode,
                    "database": settings.load_db,
                    "database_rows": db_rows,
                    "database_seconds": round(db_seconds, 3) if db_seconds is not None else None,
                    "files": settings.load_files,
                    "json_seconds": round(json_seconds, 3) if json_seconds is not None else None,
                },
                "files": [GRADES_CSV, GRADES_JSON, REJECTED_CSV, SUMMARY_JSON]
                if settings.load_files else [SUMMARY_JSON],
            }
            summary_file = group.open(os.path.join(out, SUMMARY_JSON))
            summary_file.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
            group.publish()
    finally:
        sys.setswitchinterval(previous_interval)
    finished = time.time()
    log.info(
        "loaded rows=%d output_dir=%s files=%s database=%s seconds=%.3f",
        rows, out, "yes" if settings.load_files else "no",
        "yes" if settings.load_db else "no", finished - started,
    )
    extra = {}
    if db_seconds is not None:
        extra["etl_stage_database_seconds"] = round(db_seconds, 3)
        extra["etl_stage_database_rows_per_second"] = round(db_rows / db_seconds, 1) if db_seconds else 0
    return StageResult(rows=rows, bad_rows=0, extra=extra)
