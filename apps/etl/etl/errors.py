"""Exit codes of ``python -m etl`` and the exceptions that map to them.

Documented in README.md; the Ansible role and the alert rules rely on them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected error (a bug): see the traceback in the log
EXIT_CONFIG = 2  # bad command line or configuration, unreadable secret file
EXIT_DB_UNAVAILABLE = 3  # database not reachable within ETL_DB_WAIT_SECONDS
EXIT_DB_ERROR = 4  # authentication refused, permission denied, SQL error
EXIT_INPUT = 5  # input of the stage missing or corrupt (run the previous stage)
EXIT_OUTPUT = 6  # outputs cannot be written (volume missing, read-only, full)
EXIT_BAD_ROWS = 7  # share of bad rows above ETL_MAX_BAD_RATIO (old outputs kept)
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "unexpected error",
    EXIT_CONFIG: "configuration error",
    EXIT_DB_UNAVAILABLE: "database unavailable",
    EXIT_DB_ERROR: "database error",
    EXIT_INPUT: "input missing or invalid",
    EXIT_OUTPUT: "output not writable",
    EXIT_BAD_ROWS: "too many bad rows",
    EXIT_SIGINT: "interrupted (SIGINT)",
    EXIT_SIGTERM: "terminated (SIGTERM)",
}


class EtlError(Exception):
    """An expected failure: logged without traceback, exits with ``code``.

    ``result`` may carry the counts of a run that failed late (they still
    go to the metrics file)."""

    code = EXIT_FAILURE
    result = None


class ConfigError(EtlError):
    code = EXIT_CONFIG


class DatabaseUnavailable(EtlError):
    code = EXIT_DB_UNAVAILABLE


class DatabaseError(EtlError):
    code = EXIT_DB_ERROR


class InputError(EtlError):
    code = EXIT_INPUT


class OutputError(EtlError):
    code = EXIT_OUTPUT


class TooManyBadRows(EtlError):
    code = EXIT_BAD_ROWS


class Interrupted(EtlError):
    """Raised from the SIGTERM/SIGINT handler so context managers clean up."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
