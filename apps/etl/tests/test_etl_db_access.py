"""Database access: least privilege of the ETL roles, bounded wait for the
database, clear exit codes for an unreachable or refusing database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from etl import cli, db
from etl.config import load_settings
from etl.errors import EXIT_DB_ERROR, EXIT_DB_UNAVAILABLE, EXIT_OK, DatabaseUnavailable

APP_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO school.courses VALUES (9999, 'X-1', 'x', 'x', 1)",
        "UPDATE school.students SET email = 'x@y.zz' WHERE student_id = 1",
        "DELETE FROM school.grades WHERE grade_id = 1",
        "TRUNCATE school.grades",
        "SELECT count(*) FROM reporting.grade_facts",
        "INSERT INTO reporting.etl_runs (load_mode, rows_loaded, bad_rows, duration_seconds) VALUES ('x', 0, 0, 0)",
        "CREATE TABLE school.evil (id int)",
        "CREATE TABLE public.evil (id int)",
        "CREATE TEMP TABLE evil (id int)",
    ],
)
def test_reader_can_only_read_the_source(pg_cluster, sql):
    with pg_cluster.connect("etl_reader") as conn:
        assert conn.execute("SELECT count(*) FROM school.grades").fetchone()[0] == pg_cluster.seed_rows
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM school.students",
        "INSERT INTO school.courses VALUES (9999, 'X-1', 'x', 'x', 1)",
        "UPDATE reporting.course_summary SET grades = 0",
        "DELETE FROM reporting.grade_facts",
        "CREATE TABLE reporting.evil (id int)",
        "CREATE TABLE public.evil (id int)",
        "DROP TABLE reporting.grade_facts",
    ],
)
def test_writer_can_only_write_reporting(pg_cluster, sql):
    with pg_cluster.connect("etl_writer") as conn:
        with conn.transaction():
            conn.execute("TRUNCATE reporting.course_summary")  # allowed
            conn.execute(
                "INSERT INTO reporting.course_summary VALUES ('T-1', 't', 'd', 1, 10, 0.5)"
            )
            raise psycopg.Rollback()  # leave the table as the pipeline left it
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)


@pytest.mark.postgres
def test_roles_are_not_privileged(pg_cluster):
    with pg_cluster.connect("school_owner") as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname IN ('etl_reader', 'etl_writer', 'school_owner')"
        ).fetchall()
    assert len(rows) == 3
    assert all(not any(flags) for _name, *flags in rows)


def test_wait_for_db_times_out_with_exit_code_3(unused_port):
    port = unused_port  # nothing listens there
    env = {
        "ETL_DB_HOST": "127.0.0.1",
        "ETL_DB_PORT": str(port),
        "ETL_DB_PASSWORD": "x",
        "ETL_DB_WAIT_SECONDS": "2",
        "ETL_DB_WAIT_INTERVAL": "0.2",
        "ETL_METRICS_DIR": "",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(APP_DIR), str(APP_DIR.parent / "labs_common")]),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "extract"], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == EXIT_DB_UNAVAILABLE, proc.stderr
    assert 2 <= elapsed < 20  # bounded: it waited, then gave up
    assert "waiting for database" in proc.stderr
    assert "not reachable after" in proc.stderr and "ETL_DB_WAIT_SECONDS" in proc.stderr


def test_wait_for_db_retries_until_deadline(unused_port):
    now = [0.0]
    sleeps = []

    def clock():
        return now[0]

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    settings = load_settings(
        {"ETL_DB_HOST": "127.0.0.1", "ETL_DB_PORT": str(unused_port), "ETL_DB_WAIT_SECONDS": "3",
         "ETL_DB_WAIT_INTERVAL": "1", "ETL_DB_CONNECT_TIMEOUT": "1"}
    )
    with pytest.raises(DatabaseUnavailable):
        db.connect(settings, "extract", clock=clock, sleep=sleep)
    assert sleeps == [1.0, 1.0, 1.0]


@pytest.mark.postgres
def test_wait_db_succeeds_and_wrong_password_fails_fast(pg_cluster, etl_env, tmp_path):
    assert cli.main(["wait-db"], env=etl_env()) == EXIT_OK
    bad = tmp_path / "bad"
    bad.write_text("not-the-password\n")
    started = time.monotonic()
    code = cli.main(["extract"], env=etl_env(ETL_DB_PASSWORD_FILE=str(bad), ETL_DB_WAIT_SECONDS="30"))
    assert code == EXIT_DB_ERROR
    assert time.monotonic() - started < 15  # no pointless retrying
    # The writer's credentials cannot extract (no SELECT on the source).
    assert cli.main(["extract"], env=etl_env("etl_writer")) == EXIT_DB_ERROR


def test_wait_for_db_is_bounded_even_when_dns_hangs(monkeypatch):
    def slow_getaddrinfo(*_args, **_kwargs):
        time.sleep(5)
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(db.socket, "getaddrinfo", slow_getaddrinfo)
    settings = load_settings({"ETL_DB_HOST": "db.invalid", "ETL_DB_WAIT_SECONDS": "1.5",
                              "ETL_DB_WAIT_INTERVAL": "0.2", "ETL_DB_CONNECT_TIMEOUT": "1"})
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="timed out"):
        db.connect(settings, "extract")
    assert time.monotonic() - started < 4
