"""Database connections: settings -> psycopg connection, with a bounded wait
for a database that is still starting (container start-up ordering)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from typing import Callable, Dict, Optional

import psycopg

from etl.config import Settings
from etl.errors import DatabaseError, DatabaseUnavailable

log = logging.getLogger("etl.db")

# Messages of failures that waiting will not fix.
_PERMANENT = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # role or database
    "permission denied",
    "no password supplied",
    "authentication failed",
    "too many connections for role",
)


def _is_permanent(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _PERMANENT)


def resolve(host: str, port: int, timeout: float) -> Optional[str]:
    """The first address of ``host``, resolved within ``timeout`` seconds
    (getaddrinfo itself cannot be interrupted and may hang for ~10 s on a
    network without upstream DNS).  None for IP literals and socket paths."""
    if host.startswith("/"):
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    result: Dict[str, object] = {}

    def work() -> None:
        try:
            result["addr"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=work, name="resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise psycopg.OperationalError(f"resolving host {host!r} timed out after {timeout:.1f}s")
    if "error" in result:
        raise psycopg.OperationalError(f"failed to resolve host {host!r}: {result['error']}")
    return str(result["addr"])


def connect_once(settings: Settings, stage: str, timeout: float) -> psycopg.Connection:
    hostaddr = resolve(settings.db_host, settings.db_port, timeout)
    extra = {"hostaddr": hostaddr} if hostaddr else {}
    return psycopg.connect(
        **extra,
        host=settings.db_host,
        port=settings.db_port,
        dbname=settings.db_name,
        user=settings.user_for(stage),
        password=settings.db_password,
        sslmode=settings.db_sslmode,
        connect_timeout=max(1, int(round(timeout))),
        application_name=f"etl-{stage}",
    )


def connect(
    settings: Settings,
    stage: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> psycopg.Connection:
    """Connect, retrying for at most ``settings.db_wait_seconds``.

    Raises DatabaseUnavailable when the deadline passes and DatabaseError at
    once for failures retrying cannot fix (bad password, unknown role...).
    """
    deadline = clock() + settings.db_wait_seconds
    attempt = 0
    target = f"{settings.db_host}:{settings.db_port}/{settings.db_name}"
    while True:
        attempt += 1
        remaining = deadline - clock()
        try:
            conn = connect_once(
                settings, stage, min(settings.db_connect_timeout, max(remaining, 1))
            )
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            if _is_permanent(exc):
                raise DatabaseError(
                    f"cannot log in to {target} as {settings.user_for(stage)}: {reason}"
                ) from exc
            remaining = deadline - clock()
            if remaining <= 0:
                raise DatabaseUnavailable(
                    f"database {target} not reachable after {attempt} attempt(s) "
                    f"in {settings.db_wait_seconds:g}s (ETL_DB_WAIT_SECONDS): {reason}"
                ) from exc
            log.info(
                "waiting for database target=%s attempt=%d reason=%r", target, attempt, reason
            )
            sleep(min(settings.db_wait_interval, remaining))
            continue
        log.info(
            "connected target=%s user=%s attempt=%d", target, settings.user_for(stage), attempt
        )
        return conn


def wrap_db_error(exc: psycopg.Error, what: str) -> DatabaseError:
    sqlstate = getattr(exc, "sqlstate", None)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return DatabaseError(f"{what}: {detail}" + (f" (SQLSTATE {sqlstate})" if sqlstate else ""))
