"""Configuration of the student ages API, read only from environment variables.

Every secret variable ``X`` also accepts ``X_FILE``: the path of a file that
holds the value (a trailing newline is stripped). When both are set the file
wins, so a Docker/Compose secret overrides a leftover plain variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from labs_common.secret_files import read_secret as shared_read_secret

DEFAULT_DATA_FILE = "/data/student_age.json"
DEFAULT_MAX_BODY_BYTES = 16 * 1024
DEFAULT_PORT = 5000
# The credentials printed in the labs: anybody who read them could get in.
FORBIDDEN_CREDENTIALS = (("root", "root"),)


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


def read_secret(env: Mapping[str, str], name: str) -> Optional[str]:
    """``name_FILE``'s content (preferred) or ``name``; None when neither is set (labs_common.secret_files)."""
    return shared_read_secret(env, name, ConfigError)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


# Where a container sees its CPU quota: cgroup v2, then v1.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
CGROUP_V1_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_period_us"


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cpu_quota() -> Optional[float]:
    """The CPU quota of this process's cgroup in CPUs (``docker run --cpus``),
    or None when there is none (or it cannot be read)."""
    try:
        v2 = _read(CGROUP_CPU_MAX)
        if v2 is not None:
            quota, _, period = v2.partition(" ")
            if quota == "max":
                return None
            return int(quota) / int(period or "100000")
        quota = _read(CGROUP_V1_QUOTA)
        period = _read(CGROUP_V1_PERIOD)
        if quota is None or period is None or int(quota) <= 0:
            return None
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def default_workers() -> int:
    """Worker processes: one per usable CPU, at least 2, at most 8.

    Under a CPU quota (``--cpus``) the usable CPUs are the whole CPUs of the
    quota, and then a single worker is allowed: two busy workers on a 1-CPU
    quota spend it in half a scheduling period and are then both stopped for
    the other half (CFS throttling), tens of milliseconds added to requests."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None and quota < cpus:
        return max(1, min(8, int(quota)))
    return max(2, min(8, cpus))


@dataclass(frozen=True)
class Settings:
    username: str
    password: str
    data_file: str = DEFAULT_DATA_FILE
    seed_if_empty: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    port: int = DEFAULT_PORT
    worker_class: str = "gthread"
    workers: int = 2
    threads: int = 8
    timeout: int = 30
    keepalive: int = 5
    log_level: str = "info"
    access_log: bool = False
    auth_failure_limit: int = 10
    auth_failure_window: int = 60

    def __repr__(self) -> str:  # never print the password
        return (
            f"Settings(username={self.username!r}, password='***', "
            f"data_file={self.data_file!r}, port={self.port}, "
            f"workers={self.workers}, threads={self.threads})"
        )


WORKER_CLASSES = ("gthread", "sync")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Build Settings from the environment; raise ConfigError with a one-line reason."""
    if env is None:
        env = os.environ
    username = read_secret(env, "API_USERNAME")
    password = read_secret(env, "API_PASSWORD")
    missing = [
        name
        for name, value in (("API_USERNAME", username), ("API_PASSWORD", password))
        if value is None
    ]
    if missing:
        raise ConfigError(
            " and ".join(missing)
            + " not set: set "
            + " / ".join(f"{m} or {m}_FILE" for m in missing)
        )
    assert username is not None and password is not None
    if (username, password) in FORBIDDEN_CREDENTIALS:
        raise ConfigError(
            "refusing the labs' default credentials root:root; "
            "choose another API_USERNAME / API_PASSWORD"
        )
    if ":" in username:
        raise ConfigError("API_USERNAME must not contain ':' (HTTP basic auth)")

    log_level = (env.get("LOG_LEVEL") or "info").strip().lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={log_level!r} is not one of {', '.join(LOG_LEVELS)}")

    data_file = (env.get("DATA_FILE") or DEFAULT_DATA_FILE).strip()
    if not os.path.isabs(data_file):
        raise ConfigError(f"DATA_FILE={data_file!r} must be an absolute path")

    worker_class = (env.get("GUNICORN_WORKER_CLASS") or "gthread").strip().lower()
    if worker_class not in WORKER_CLASSES:
        raise ConfigError(
            f"GUNICORN_WORKER_CLASS={worker_class!r} is not one of {', '.join(WORKER_CLASSES)}"
        )

    return Settings(
        username=username,
        password=password,
        data_file=data_file,
        seed_if_empty=_bool(env, "SEED_IF_EMPTY", True),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 64, 10 * 1024 * 1024),
        port=_int(env, "PORT", DEFAULT_PORT, 1, 65535),
        worker_class=worker_class,
        workers=_int(env, "GUNICORN_WORKERS", default_workers(), 1, 64),
        threads=_int(env, "GUNICORN_THREADS", 8, 1, 256),
        timeout=_int(env, "GUNICORN_TIMEOUT", 30, 1, 3600),
        keepalive=_int(env, "GUNICORN_KEEPALIVE", 5, 0, 3600),
        log_level=log_level,
        # Off by default: gunicorn's access logger costs more CPU than serving
        # a read (half the throughput); /metrics counts requests instead.
        access_log=_bool(env, "ACCESS_LOG", False),
        # Failed basic-auth attempts a client may make per window (seconds)
        # before it gets 429 + Retry-After; 0 switches the throttle off.
        auth_failure_limit=_int(env, "AUTH_FAILURE_LIMIT", 10, 0, 1_000_000),
        auth_failure_window=_int(env, "AUTH_FAILURE_WINDOW", 60, 1, 86400),
    )
