"""Test set-up of the ETL: make ``etl`` importable and provide a throwaway,
real PostgreSQL 15 cluster loaded with the same SQL as the postgres image.

The cluster is created with Debian's initdb + pg_ctl in a temporary
directory, listens on 127.0.0.1 on a free port, and runs as a non-root user
(PostgreSQL refuses root): the ``postgres`` system user (or ``nobody``) via
runuser when the tests run as root, the current user otherwise.  When the
server binaries are missing every database test is skipped with the reason.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
# (apps/conftest.py puts the shared code, apps/labs_common, on the path.)
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

REPO = Path(__file__).resolve().parents[3]
# The SQL of the postgres image: shared, not copied.
SQL_DIR = REPO / "apps" / "postgres" / "sql"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
SEED_ROWS = int(os.environ.get("ETL_TEST_SEED_ROWS", "20000"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as_prefix() -> (List[str], str):
    """Command prefix to run as a non-root user, and that user's name."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: cannot start PostgreSQL as non-root")
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return [runuser, "-u", name, "--"], name
    pytest.skip("running as root and neither a postgres nor a nobody user exists")


@dataclass
class PgCluster:
    host: str
    port: int
    dbname: str
    socket_dir: str
    passwords: Dict[str, str] = field(repr=False)
    seed_rows: int = SEED_ROWS

    def conninfo(self, role: str) -> Dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": role,
            "password": self.passwords[role],
            "connect_timeout": 5,
        }

    def connect(self, role: str, **kwargs):
        import psycopg

        return psycopg.connect(**self.conninfo(role), **kwargs)


def _check(cmd: List[str], env=None, what: str = "") -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd="/")
    if proc.returncode != 0:
        raise RuntimeError(f"{what or cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def pg_cluster():
    initdb = PG_BINDIR / "initdb"
    if not initdb.exists():
        pytest.skip(
            f"PostgreSQL server binaries not found in {PG_BINDIR} "
            "(apt-get install -y postgresql, or set PG_BINDIR)"
        )
    prefix, user = _run_as_prefix()
    pw = pwd.getpwnam(user)
    base = tempfile.mkdtemp(prefix="etl-pgtest-")
    os.chown(base, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    port = free_port()
    # The SQL must be readable by the server's user: use it in place when it
    # is, otherwise hand a copy (of the same files) to that user.
    sql_dir = SQL_DIR
    if subprocess.run(prefix + ["test", "-r", str(SQL_DIR / "init.sql")], cwd="/").returncode != 0:
        sql_dir = Path(base) / "sql"
        shutil.copytree(SQL_DIR, sql_dir)
        for path in [sql_dir, *sql_dir.iterdir()]:
            os.chown(path, pw.pw_uid, pw.pw_gid)
    passwords = {
        "school_owner": secrets.token_urlsafe(18),
        "etl_reader": secrets.token_urlsafe(18),
        "etl_writer": secrets.token_urlsafe(18),
    }
    pg_ctl = [str(PG_BINDIR / "pg_ctl"), "-D", data]
    started = False
    try:
        _check(prefix + [str(initdb), "-D", data, "-U", "postgres", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale"],
               what="initdb")
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c timezone=UTC -c password_encryption=scram-sha-256")
        _check(prefix + pg_ctl + ["-l", os.path.join(base, "server.log"), "-o", options, "-w", "-t", "60", "start"],
               what="pg_ctl start")
        started = True
        env = dict(os.environ)
        env.update(
            POSTGRES_DB="school",
            POSTGRES_USER="school_owner",
            POSTGRES_PASSWORD=passwords["school_owner"],
            ETL_READER_PASSWORD=passwords["etl_reader"],
            ETL_WRITER_PASSWORD=passwords["etl_writer"],
            SEED_ROWS=str(SEED_ROWS),
        )
        # Secrets travel in the environment (runuser keeps it), never in argv.
        _check(prefix + [str(PG_BINDIR / "psql"), "-X", "-q", "-h", base, "-p", str(port), "-U", "postgres",
                   "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", str(sql_dir / "init.sql")],
               env=env, what="psql -f init.sql")
        yield PgCluster(host="127.0.0.1", port=port, dbname="school", socket_dir=base, passwords=passwords)
    finally:
        if started:
            subprocess.run(prefix + pg_ctl + ["-m", "immediate", "-w", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (right now)."""
    return free_port()


@pytest.fixture
def etl_dirs(tmp_path):
    dirs = {name: tmp_path / name for name in ("work", "output", "metrics")}
    for path in dirs.values():
        path.mkdir()
    return dirs


@pytest.fixture
def etl_env(pg_cluster, etl_dirs, tmp_path):
    """Environment for ``etl.cli.main`` against the test cluster; the
    password of each role in its own file, like Docker secrets."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for role, password in pg_cluster.passwords.items():
        (secrets_dir / role).write_text(password + "\n")

    def make(stage_role: str = "etl_reader", **extra: str) -> Dict[str, str]:
        env = {
            "ETL_DB_HOST": pg_cluster.host,
            "ETL_DB_PORT": str(pg_cluster.port),
            "ETL_DB_NAME": pg_cluster.dbname,
            "ETL_DB_USER": stage_role,
            "ETL_DB_PASSWORD_FILE": str(secrets_dir / stage_role),
            "ETL_DB_WAIT_SECONDS": "5",
            "ETL_WORK_DIR": str(etl_dirs["work"]),
            "ETL_OUTPUT_DIR": str(etl_dirs["output"]),
            "ETL_METRICS_DIR": str(etl_dirs["metrics"]),
        }
        env.update(extra)
        return env

    return make
