"""Test helpers for the postgres image's entrypoint, run on the host.

The entrypoint is executed for real (initdb, init.sql, exec postgres) with
Debian's PostgreSQL 15 binaries, as a non-root user: ``postgres`` (or
``nobody``) via runuser when the tests run as root.  Skipped, with the
reason, when the binaries are missing (CI: apt-get install -y postgresql).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
ENTRYPOINT = APP_DIR / "docker-entrypoint.sh"
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EntrypointRun:
    """One docker-entrypoint.sh process and its data directory."""

    base: Path
    prefix: List[str]
    user: pwd.struct_passwd
    port: int = field(default_factory=_free_port)
    passwords: Dict[str, str] = field(default_factory=lambda: {
        "school_owner": secrets.token_urlsafe(16),
        "etl_reader": secrets.token_urlsafe(16),
        "etl_writer": secrets.token_urlsafe(16),
    })
    proc: Optional[subprocess.Popen] = None
    log_path: Optional[Path] = None
    app_dir: Path = APP_DIR  # where entrypoint, sql/ and postgresql.conf are read

    @property
    def entrypoint(self) -> Path:
        return self.app_dir / ENTRYPOINT.name

    @property
    def pgdata(self) -> Path:
        return self.base / "data"

    def write_secrets(self) -> Dict[str, str]:
        names = {"POSTGRES_PASSWORD": "school_owner", "ETL_READER_PASSWORD": "etl_reader",
                 "ETL_WRITER_PASSWORD": "etl_writer"}
        env = {}
        for var, role in names.items():
            path = self.base / f"{role}.secret"
            path.write_text(self.passwords[role] + "\n")
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
            path.chmod(0o400)
            env[f"{var}_FILE"] = str(path)
        return env

    def env(self, **extra: str) -> Dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGDATA": str(self.pgdata),
            "PGPORT": str(self.port),
            "PG_BINDIR": str(PG_BINDIR),
            "PG_SOCKET_DIR": str(self.base),
            "SCHOOL_SQL_DIR": str(self.app_dir / "sql"),
            "SCHOOL_PG_CONF": str(self.app_dir / "postgresql.conf"),
            "POSTGRES_LISTEN_ADDRESSES": "127.0.0.1",
            "SEED_ROWS": "3000",
        }
        env.update(self.write_secrets())
        env.update(extra)
        return env

    def start(self, wait: bool = True, timeout: float = 120, **extra: str) -> "EntrypointRun":
        self.log_path = self.base / f"entrypoint-{time.monotonic_ns()}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.prefix + [str(self.entrypoint)], env=self.env(**extra), stdout=log,
            stderr=subprocess.STDOUT, cwd="/",
        )
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"entrypoint exited with {self.proc.returncode}:\n{self.log()}")
            try:
                psycopg.connect(**self.conninfo("school_owner")).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready after {timeout}s:\n{self.log()}")
                time.sleep(0.3)

    def conninfo(self, role: str, password: Optional[str] = None) -> Dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "dbname": "school", "user": role,
                "password": self.passwords.get(role, "") if password is None else password,
                "connect_timeout": 5}

    def connect(self, role: str, **kwargs):
        import psycopg

        return psycopg.connect(**self.conninfo(role), **kwargs)

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.postmaster_pid(), signal.SIGINT)  # what `docker stop` sends
        except (OSError, ValueError):
            self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def run_to_completion(self, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix + [str(self.entrypoint)], env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout, cwd="/")


def _runner():
    if not (PG_BINDIR / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BINDIR} (apt-get install -y postgresql)")
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid())
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot run PostgreSQL as non-root")
    for name in ("postgres", "nobody"):
        try:
            return [runuser, "-u", name, "--"], pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root and neither a postgres nor a nobody user exists")


@pytest.fixture
def entrypoint_factory():
    """Make EntrypointRun objects in private temp dirs; stop and clean up."""
    runs: List[EntrypointRun] = []

    def make() -> EntrypointRun:
        prefix, user = _runner()
        base = Path(tempfile.mkdtemp(prefix="pg-entrypoint-"))
        os.chown(base, user.pw_uid, user.pw_gid)
        run = EntrypointRun(base=base, prefix=prefix, user=user)
        # The server's user must be able to read the files: use them in
        # place when it can (a checkout under /root cannot), else a copy.
        if subprocess.run(prefix + ["test", "-r", str(APP_DIR / "sql" / "init.sql"), "-a", "-x",
                                    str(ENTRYPOINT)], cwd="/").returncode != 0:
            run.app_dir = base / "app"
            shutil.copytree(APP_DIR, run.app_dir, ignore=shutil.ignore_patterns("tests"))
            for path in [run.app_dir, *run.app_dir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()
        shutil.rmtree(run.base, ignore_errors=True)
