"""Secure app (lab 002): a Flask JSON API on waitress that keeps messages in MariaDB.

    GET  /                     the app and its database: {"app", "version", "database": {"status", "messages"}}
                               (200 when the database answers, 503 when it does not)
    GET  /healthz              the process answers (Docker's healthcheck; no database round trip)
    GET  /api/messages         the newest messages (?limit=1..100, default 20)
    POST /api/messages         {"author": 1-64 chars, "body": 1-500 chars} -> 201 and the stored row
    GET  /api/messages/<id>    one message, or 404

Bad input gets a 4xx JSON answer naming the problem, never a 5xx; an unreachable database is a 503.
The database password comes from DB_PASSWORD_FILE (a Compose secret), or DB_PASSWORD.
The server runs in this very process: in the container it is PID 1.
"""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request
from labs_common.secret_files import read_secret as shared_read_secret
from labs_common.waitress_app import fail, serve
from werkzeug.exceptions import BadRequest, HTTPException

APP_NAME = "secure_app"
DEFAULT_PORT = 8000
AUTHOR_MAX = 64
BODY_MAX = 500
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
MAX_REQUEST_BYTES = 16 * 1024
FIELDS = {"author": AUTHOR_MAX, "body": BODY_MAX}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages ("
    " id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " author VARCHAR(64) NOT NULL,"
    " body VARCHAR(500) NOT NULL,"
    " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
)


def _version() -> str:
    try:
        return (Path(__file__).resolve().parent / "VERSION").read_text().strip()
    except OSError:
        return "unknown"


class ConfigError(ValueError):
    """A setting of the environment is unusable."""


class StoreError(RuntimeError):
    """The database did not answer or refused the operation."""


class BadInput(ValueError):
    """The client's input is unusable (answered 400 with this message)."""


@dataclass(frozen=True)
class DbSettings:
    host: str
    port: int
    user: str
    password: str
    name: str
    connect_timeout: int = 3


def read_secret(environ, name: str) -> str:
    """NAME_FILE's contents (trailing newline dropped) win over NAME; empty when neither is set."""
    return shared_read_secret(environ, name, ConfigError) or ""


def _int_setting(environ, name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def db_settings(environ) -> DbSettings:
    password = read_secret(environ, "DB_PASSWORD")
    if not password:
        raise ConfigError("DB_PASSWORD_FILE (or DB_PASSWORD) is required")
    return DbSettings(
        host=environ.get("DB_HOST", "secure-db") or "secure-db",
        port=_int_setting(environ, "DB_PORT", 3306, 1, 65535),
        user=environ.get("DB_USER", "appuser") or "appuser",
        password=password,
        name=environ.get("DB_NAME", "appdb") or "appdb",
        connect_timeout=_int_setting(environ, "DB_CONNECT_TIMEOUT", 3, 1, 60),
    )


class MariaDBStore:
    """Messages in MariaDB through PyMySQL: one short connection per operation (a few per second at most)."""

    def __init__(self, settings: DbSettings):
        self.settings = settings
        self._schema_ready = False
        self._lock = threading.Lock()

    def _connect(self):
        import pymysql  # imported late: the route tests use an in-memory store

        try:
            conn = pymysql.connect(
                host=self.settings.host, port=self.settings.port, user=self.settings.user,
                password=self.settings.password, database=self.settings.name, charset="utf8mb4",
                connect_timeout=self.settings.connect_timeout, read_timeout=10, write_timeout=10,
                autocommit=True, cursorclass=pymysql.cursors.DictCursor)
        except pymysql.MySQLError as exc:
            raise StoreError(f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}") from exc
        return conn

    def _run(self, work):
        import pymysql

        conn = self._connect()
        try:
            with conn.cursor() as cur:
                if not self._schema_ready:
                    with self._lock:
                        cur.execute(SCHEMA)
                        self._schema_ready = True
                return work(cur)
        except pymysql.MySQLError as exc:
            raise StoreError(str(exc)) from exc
        finally:
            conn.close()

    @staticmethod
    def _row(row):
        return {"id": int(row["id"]), "author": row["author"], "body": row["body"],
                "created_at": row["created_at"].isoformat() + "Z" if row.get("created_at") else None}

    def count(self) -> int:
        return self._run(lambda cur: (cur.execute("SELECT COUNT(*) AS n FROM messages"), cur.fetchone()["n"])[1])

    def add(self, author: str, body: str) -> dict:
        def work(cur):
            cur.execute("INSERT INTO messages (author, body) VALUES (%s, %s)", (author, body))
            cur.execute("SELECT id, author, body, created_at FROM messages WHERE id = %s", (cur.lastrowid,))
            return self._row(cur.fetchone())
        return self._run(work)

    def get(self, message_id: int):
        def work(cur):
            cur.execute("SELECT id, author, body, created_at FROM messages WHERE id = %s", (message_id,))
            row = cur.fetchone()
            return self._row(row) if row else None
        return self._run(work)

    def latest(self, limit: int) -> list:
        def work(cur):
            cur.execute("SELECT id, author, body, created_at FROM messages ORDER BY id DESC LIMIT %s", (limit,))
            return [self._row(r) for r in cur.fetchall()]
        return self._run(work)


def json_response(payload, status=200):
    return Response(json.dumps(payload, sort_keys=True, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _clean_text(name: str, value, maximum: int) -> str:
    if not isinstance(value, str):
        raise BadInput(f"'{name}' must be a string")
    value = value.strip()
    if not value:
        raise BadInput(f"'{name}' must not be empty")
    if len(value) > maximum:
        raise BadInput(f"'{name}' must be at most {maximum} characters")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise BadInput(f"'{name}' must be valid Unicode text (no lone surrogate)")
        if category == "Cc" and char not in "\n\t":
            raise BadInput(f"'{name}' must not contain control characters")
    return value


def parse_message(payload) -> tuple:
    """(author, body) from a request's JSON payload, or BadInput naming the problem."""
    if not isinstance(payload, dict):
        raise BadInput("the body must be a JSON object {\"author\": ..., \"body\": ...}")
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in FIELDS if name not in payload]
    if missing:
        raise BadInput(f"missing field(s): {', '.join(missing)}")
    return tuple(_clean_text(name, payload[name], maximum) for name, maximum in FIELDS.items())


def parse_limit(raw) -> int:
    if raw is None:
        return LIMIT_DEFAULT
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 4):
        raise BadInput(f"'limit' must be an integer from 1 to {LIMIT_MAX}")
    value = int(raw)
    if not 1 <= value <= LIMIT_MAX:
        raise BadInput(f"'limit' must be an integer from 1 to {LIMIT_MAX}")
    return value


def create_app(store) -> Flask:
    app = Flask(APP_NAME)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    version = _version()

    @app.errorhandler(BadInput)
    def bad_input(exc):
        return json_response({"error": str(exc), "status": 400}, 400)

    @app.errorhandler(StoreError)
    def store_down(exc):
        app.logger.warning("database: %s", exc)
        return json_response({"error": "database unavailable", "status": 503}, 503)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return json_response({"error": exc.name, "status": exc.code}, exc.code)

    @app.get("/")
    def index():
        try:
            database = {"status": "ok", "messages": store.count()}
            status = 200
        except StoreError as exc:
            app.logger.warning("database: %s", exc)
            database, status = {"status": "unavailable"}, 503
        return json_response({"app": APP_NAME, "version": version, "database": database}, status)

    @app.get("/healthz")
    def healthz():
        return json_response({"status": "ok"})

    @app.get("/api/messages")
    def list_messages():
        limit = parse_limit(request.args.get("limit"))
        return json_response({"messages": store.latest(limit)})

    @app.post("/api/messages")
    def add_message():
        if not request.is_json:
            return json_response({"error": "send JSON (Content-Type: application/json)", "status": 415}, 415)
        try:
            payload = request.get_json()
        except BadRequest as exc:
            raise BadInput("the body is not valid JSON") from exc
        author, body = parse_message(payload)
        return json_response(store.add(author, body), 201)

    @app.get("/api/messages/<int:message_id>")
    def get_message(message_id):
        if message_id > 2**32 - 1:
            raise BadInput("no such message id")
        message = store.get(message_id)
        if message is None:
            return json_response({"error": "Not Found", "status": 404}, 404)
        return json_response(message)

    return app


def main(environ=None):
    environ = os.environ if environ is None else environ
    try:
        settings = db_settings(environ)
        port = _int_setting(environ, "LISTEN_PORT", DEFAULT_PORT, 1, 65535)
        threads = _int_setting(environ, "THREADS", 4, 1, 64)
    except ConfigError as exc:
        fail(APP_NAME, str(exc))
    host = environ.get("LISTEN_HOST", "0.0.0.0") or "0.0.0.0"
    serve(APP_NAME, create_app(MariaDBStore(settings)), host, port, threads)


if __name__ == "__main__":
    main()
