"""Extract stage: stream the joined source rows out of PostgreSQL with
``COPY (SELECT ...) TO STDOUT`` into ``extract.csv`` on the work volume.

Memory use is constant: psycopg hands over the COPY stream chunk by chunk
and each chunk goes straight to the (buffered) file.  The connection is
read-only and uses the reader role (SELECT on the source tables only).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

import psycopg

from etl import db
from etl.atomic import AtomicGroup, ensure_dir, write_json
from etl.config import Settings
from etl.errors import DatabaseError
from etl.stage import StageResult

log = logging.getLogger("etl.extract")

EXTRACT_FILE = "extract.csv"
EXTRACT_META = "extract.meta.json"

# Column order of extract.csv (the transform stage checks the header).
EXTRACT_COLUMNS = [
    "grade_id",
    "enrolment_id",
    "student_id",
    "assessment",
    "score",
    "max_score",
    "graded_at",
    "academic_year",
    "semester",
    "enrolment_status",
    "first_name",
    "last_name",
    "email",
    "birth_date",
    "country",
    "course_code",
    "course_title",
    "department",
    "credits",
]

QUERY = """
SELECT g.grade_id, g.enrolment_id, e.student_id, g.assessment, g.score,
       g.max_score, g.graded_at, e.academic_year, e.semester,
       e.status AS enrolment_status, s.first_name, s.last_name, s.email,
       s.birth_date, s.country, c.code AS course_code, c.title AS course_title,
       c.department, c.credits
FROM school.grades AS g
JOIN school.enrolments AS e ON e.enrolment_id = g.enrolment_id
JOIN school.students AS s ON s.student_id = e.student_id
JOIN school.courses AS c ON c.course_id = e.course_id
ORDER BY g.grade_id
"""


def run(settings: Settings, limit: Optional[int] = None) -> StageResult:
    ensure_dir(settings.work_dir)
    target = os.path.join(settings.work_dir, EXTRACT_FILE)
    query = QUERY if limit is None else f"{QUERY} LIMIT {int(limit)}"
    started = time.time()
    conn = db.connect(settings, "extract")
    try:
        with AtomicGroup() as group:
            out = group.open(target, "wb")
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    # Deterministic text for timestamptz/date values.
                    conn.execute("SET LOCAL TimeZone = 'UTC'")
                    conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")
                    with conn.cursor() as cur:
                        with cur.copy(
                            f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"
                        ) as copy:
                            for chunk in copy:
                                out.write(chunk)
                        rows = cur.rowcount
            except psycopg.Error as exc:
                raise db.wrap_db_error(exc, "extract query failed") from exc
            if rows is None or rows < 0:
                raise DatabaseError("COPY did not report a row count")
            group.publish()
    finally:
        conn.close()
    finished = time.time()
    write_json(
        os.path.join(settings.work_dir, EXTRACT_META),
        {
            "stage": "extract",
            "rows": rows,
            "columns": EXTRACT_COLUMNS,
            "file": EXTRACT_FILE,
            "started_at": started,
            "finished_at": finished,
        },
    )
    log.info("extracted rows=%d file=%s seconds=%.3f", rows, target, finished - started)
    return StageResult(rows=rows, bad_rows=0)
