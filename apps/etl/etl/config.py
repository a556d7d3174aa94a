"""Settings of the ETL, read from the environment and an optional env file.

Precedence: process environment > ``ETL_ENV_FILE`` (a KEY=VALUE file,
typically mounted read-only) > defaults.  Nothing about the database is
hard-coded in the code paths: host, port, name, user and password all come
from here.  Every secret ``X`` also accepts ``X_FILE`` (the file wins).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

from labs_common.secret_files import read_secret as shared_read_secret

from etl.errors import ConfigError

# Default database role of each stage (least privilege: extract only reads
# the source schema, load only writes the reporting schema).
STAGE_DB_USERS = {"extract": "etl_reader", "load": "etl_writer"}

LOAD_MODES = ("copy", "naive")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SECRETS = ("ETL_DB_PASSWORD",)

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_file(path: str) -> Dict[str, str]:
    """Parse a docker-style env file: ``KEY=VALUE`` lines, ``#`` comments,
    optional ``export`` prefix and optional matching quotes around VALUE.
    No variable interpolation."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"ETL_ENV_FILE={path} cannot be read: {exc.strerror or exc}") from exc
    values: Dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def merged_environment(env: Mapping[str, str]) -> Dict[str, str]:
    """The process environment layered over the env file (if any)."""
    merged: Dict[str, str] = {}
    path = env.get("ETL_ENV_FILE")
    if path:
        merged.update(parse_env_file(path))
    merged.update(env)
    return merged


def read_secret(env: Mapping[str, str], name: str) -> Optional[str]:
    """``name_FILE``'s content (wins) or ``name``; None when neither is set (labs_common.secret_files)."""
    return shared_read_secret(env, name, ConfigError)


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "")
    return value.strip() if value.strip() else default


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}..{high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if math.isnan(value) or not low <= value <= high:
        raise ConfigError(f"{name}={raw} is outside {low}..{high}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


def _choice(env: Mapping[str, str], name: str, default: str, choices, upper=False) -> str:
    raw = _get(env, name, default)
    raw = raw.upper() if upper else raw.lower()
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class Settings:
    db_host: str = "postgres"
    db_port: int = 5432
    db_name: str = "school"
    db_user: Optional[str] = None  # None: the stage's default (STAGE_DB_USERS)
    db_password: Optional[str] = field(default=None, repr=False)
    db_sslmode: str = "prefer"
    db_connect_timeout: int = 5
    db_wait_seconds: float = 60.0
    db_wait_interval: float = 1.0
    work_dir: str = "/data/work"
    output_dir: str = "/data/output"
    metrics_dir: str = "/data/metrics"
    load_mode: str = "copy"
    load_db: bool = True
    load_files: bool = True
    max_bad_ratio: float = 1.0
    report_stats_file: Optional[str] = None
    metrics_addr: str = "0.0.0.0"
    metrics_port: int = 9108
    log_level: str = "INFO"

    def user_for(self, stage: str) -> str:
        return self.db_user or STAGE_DB_USERS.get(stage, "etl_reader")


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Build Settings from ``env`` (default: os.environ) and ETL_ENV_FILE."""
    e = merged_environment(os.environ if env is None else env)
    port = _int(e, "ETL_DB_PORT", 5432, 1, 65535)
    return Settings(
        db_host=_get(e, "ETL_DB_HOST", "postgres"),
        db_port=port,
        db_name=_get(e, "ETL_DB_NAME", "school"),
        db_user=_get(e, "ETL_DB_USER", "") or None,
        db_password=read_secret(e, "ETL_DB_PASSWORD"),
        db_sslmode=_choice(e, "ETL_DB_SSLMODE", "prefer", SSL_MODES),
        db_connect_timeout=_int(e, "ETL_DB_CONNECT_TIMEOUT", 5, 1, 300),
        db_wait_seconds=_float(e, "ETL_DB_WAIT_SECONDS", 60.0, 0.0, 86400.0),
        db_wait_interval=_float(e, "ETL_DB_WAIT_INTERVAL", 1.0, 0.05, 60.0),
        work_dir=_get(e, "ETL_WORK_DIR", "/data/work"),
        output_dir=_get(e, "ETL_OUTPUT_DIR", "/data/output"),
        # An explicitly empty ETL_METRICS_DIR switches the metrics files off.
        metrics_dir=e["ETL_METRICS_DIR"].strip() if "ETL_METRICS_DIR" in e else "/data/metrics",
        load_mode=_choice(e, "ETL_LOAD_MODE", "copy", LOAD_MODES),
        load_db=_bool(e, "ETL_LOAD_DB", True),
        load_files=_bool(e, "ETL_LOAD_FILES", True),
        max_bad_ratio=_float(e, "ETL_MAX_BAD_RATIO", 1.0, 0.0, 1.0),
        report_stats_file=_get(e, "ETL_REPORT_STATS_FILE", "") or None,
        metrics_addr=_get(e, "ETL_METRICS_ADDR", "0.0.0.0"),
        metrics_port=_int(e, "ETL_METRICS_PORT", 9108, 1, 65535),
        log_level=_choice(e, "ETL_LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
    )
