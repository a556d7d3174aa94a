"""docker-entrypoint.sh for real: first-start initialisation from *_FILE
secrets, seed size, least privilege, exec to postgres, re-start without
re-seeding, failure handling."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

pytestmark = pytest.mark.postgres  # every test runs the real server

SEED = 3000  # the EntrypointRun default
CHECKSUM = (
    "SELECT (SELECT md5(string_agg(s::text, '|' ORDER BY student_id)) FROM school.students s), "
    "(SELECT md5(string_agg(g::text, '|' ORDER BY grade_id)) FROM school.grades g), "
    "(SELECT md5(string_agg(e::text, '|' ORDER BY enrolment_id)) FROM school.enrolments e)"
)


def _counts(conn):
    return conn.execute(
        "SELECT (SELECT count(*) FROM school.grades), (SELECT count(*) FROM school.enrolments), "
        "(SELECT count(*) FROM school.students), (SELECT count(*) FROM school.courses)"
    ).fetchone()


def test_first_start_seeds_and_execs_postgres(entrypoint_factory):
    run = entrypoint_factory().start()
    # exec: the server process is the entrypoint's own process (its parent is
    # whatever started the entrypoint, not a shell still running the script).
    pid = run.postmaster_pid()
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        assert handle.read().split(b"\0")[0].endswith(b"/postgres")
    with open(f"/proc/{pid}/status") as handle:
        ppid = int(next(line for line in handle if line.startswith("PPid:")).split()[1])
    assert pid == run.proc.pid or ppid == run.proc.pid

    with run.connect("school_owner") as conn:
        assert _counts(conn) == (SEED, SEED // 2, 150, 12)
        # Deliberately dirty rows are present for the ETL to reject.
        assert conn.execute("SELECT count(*) FROM school.grades WHERE score IS NULL").fetchone()[0] == SEED // 101
        assert conn.execute("SELECT count(*) FROM school.grades WHERE score < 0 OR score > max_score").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM school.students WHERE first_name <> btrim(first_name)").fetchone()[0] > 0
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
        assert conn.execute("SHOW wal_level").fetchone()[0] == "minimal"  # the image's conf is included

    # Least privilege.
    with run.connect("etl_reader") as conn:
        assert conn.execute("SELECT count(*) FROM school.grades").fetchone()[0] == SEED
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO reporting.course_summary VALUES ('x', 'x', 'x', 1, 1, 1)")
    with run.connect("etl_writer") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM school.students")
    with run.connect("etl_writer", autocommit=True) as conn:
        conn.execute("INSERT INTO reporting.course_summary VALUES ('x', 'x', 'x', 1, 1, 1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE reporting.evil (id int)")

    # Only the three roles, only this database, only with a password.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**run.conninfo("etl_reader", password="wrong"))
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        psycopg.connect(**{**run.conninfo("school_owner"), "dbname": "postgres"})
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        psycopg.connect(**run.conninfo("postgres", password="x"))
    hba = (run.pgdata / "pg_hba.conf").read_text()
    assert "host    school    school_owner,etl_reader,etl_writer    samenet    scram-sha-256" in hba
    # The server's environment holds no secret.
    with open(f"/proc/{pid}/environ", "rb") as handle:
        environ = handle.read().decode(errors="replace")
    assert not any(password in environ for password in run.passwords.values())
    assert "PASSWORD" not in environ

    # Stored verifiers are SCRAM (checked as the local superuser via peer
    # authentication when the server runs as the postgres OS user).
    if run.user.pw_name == "postgres":
        out = subprocess.run(
            run.prefix + [os.path.join(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql"),
                          "-X", "-At", "-h", str(run.base), "-p", str(run.port), "-U", "postgres", "-d", "school",
                          "-c", "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolpassword IS NOT NULL ORDER BY 1"],
            capture_output=True, text=True, cwd="/", check=True,
        ).stdout.split()
        assert out == [f"{r}|SCRAM-SHA-256$" for r in ("etl_reader", "etl_writer", "school_owner")]

    # Re-start on the same data: no re-initialisation, no re-seed, old
    # passwords still valid (secrets are only read at first init).
    run.stop()
    assert run.proc.returncode == 0
    old_passwords = dict(run.passwords)
    run.passwords = {role: "changed-" + pw for role, pw in run.passwords.items()}
    run.passwords["school_owner"] = old_passwords["school_owner"]
    run.start(SEED_ROWS="10")
    assert "existing cluster found" in run.log()
    with run.connect("school_owner") as conn:
        assert _counts(conn) == (SEED, SEED // 2, 150, 12)
        assert conn.execute("SELECT count(*) FROM reporting.course_summary").fetchone()[0] == 1


def test_seed_is_deterministic(entrypoint_factory):
    first = entrypoint_factory().start()
    second = entrypoint_factory().start()
    with first.connect("school_owner") as a, second.connect("school_owner") as b:
        assert a.execute(CHECKSUM).fetchone() == b.execute(CHECKSUM).fetchone()


def test_missing_secret_refuses_to_initialise(entrypoint_factory):
    run = entrypoint_factory()
    env_file = run.env()["ETL_WRITER_PASSWORD_FILE"]
    proc = run.run_to_completion(ETL_WRITER_PASSWORD_FILE="")
    assert proc.returncode != 0
    assert "ETL_WRITER_PASSWORD (or ETL_WRITER_PASSWORD_FILE) is required" in proc.stderr
    assert not run.pgdata.exists()
    proc = run.run_to_completion(ETL_WRITER_PASSWORD_FILE=str(run.base / "absent"))
    assert proc.returncode != 0 and "is not a readable file" in proc.stderr
    assert os.path.exists(env_file)


@pytest.mark.parametrize(
    "var, value, message",
    [
        ("POSTGRES_DB", "school; DROP", "not a valid lower-case SQL identifier"),
        ("SEED_ROWS", "lots", "not a non-negative integer"),
        ("POSTGRES_HBA_ADDRESS", "0.0.0.0/0 trust", "must be samenet"),
    ],
)
def test_invalid_settings_are_rejected(entrypoint_factory, var, value, message):
    run = entrypoint_factory()
    proc = run.run_to_completion(**{var: value})
    assert proc.returncode != 0 and message in proc.stderr
    assert not run.pgdata.exists()


def test_failed_init_leaves_no_half_cluster(entrypoint_factory):
    run = entrypoint_factory()
    # The owner role name collides with the reader role: init.sql fails.
    proc = run.run_to_completion(POSTGRES_USER="etl_reader")
    assert proc.returncode != 0
    assert "init.sql failed" in proc.stderr
    assert run.pgdata.exists() and list(run.pgdata.iterdir()) == []


def test_refuses_to_run_as_root(entrypoint_factory):
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root")
    run = entrypoint_factory()
    run.prefix = []
    proc = run.run_to_completion()
    assert proc.returncode != 0 and "refusing to run as root" in proc.stderr
