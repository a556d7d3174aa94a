"""Flask application: the labs' student ages API, fixed and extended.

Contract kept from the labs (base path /supmit/api/v1.0, HTTP basic auth):
  GET  /get_student_ages          -> 200 {"student_ages": {name: age}}
  GET  /get_student_ages/<name>   -> 200 {"<name>": "<age>"} | 404 {"error": "Not found"}
  bad/missing credentials         -> 401 {"error": "Unauthorized access"}
Reading never deletes anything (the labs' code deleted the student it returned).
Added: POST/PUT/DELETE with validation, /healthz, /metrics, /openapi.json.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
import urllib.parse
from functools import wraps
from typing import Any, Dict, Optional, Tuple

from flask import Flask, Response, current_app, g, jsonify, request
from labs_common.throttle import FailureThrottle
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import __version__
from .config import Settings
from .metrics import Metrics
from .names import identity, normalize
from .openapi import openapi_document
from .store import NameConflict, StoreUnavailable, StudentStore

API_BASE = "/supmit/api/v1.0"
COLLECTION = f"{API_BASE}/get_student_ages"
NAME_MAX = 64
AGE_MIN, AGE_MAX = 1, 150

log = logging.getLogger("student_api")

_ERROR_TEXT = {
    400: "Bad request",
    401: "Unauthorized access",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request entity too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def error_response(status: int, message: Optional[str] = None, **headers: str) -> Response:
    body: Dict[str, Any] = {"error": _ERROR_TEXT.get(status, "Error")}
    if message:
        body["message"] = message
    response = jsonify(body)
    response.status_code = status
    for key, value in headers.items():
        response.headers[key.replace("_", "-")] = value
    return response


# ---------------------------------------------------------------- validation
def validate_name(value: Any) -> Optional[str]:
    """Return an error message, or None when ``value`` (once normalized:
    NFC, trimmed) is a valid name."""
    if not isinstance(value, str):
        return "name must be a string"
    if not value:
        return f"name must be 1 to {NAME_MAX} characters long"
    value = normalize(value)
    if not value:
        return "name must not be blank"
    if len(value) > NAME_MAX:
        return f"name must be 1 to {NAME_MAX} characters long"
    if not value.isprintable():
        return "name must contain only printable characters"
    if "/" in value:
        return "name must not contain '/' (it could not be addressed in a URL)"
    return None


def validate_age(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not AGE_MIN <= value <= AGE_MAX:
        return f"age must be an integer between {AGE_MIN} and {AGE_MAX}"
    return None


def _read_body(limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes.

    With a Content-Length, before_request already refused an oversized body.
    A chunked body has none: werkzeug would silently cut it at the limit, so
    it is read here from the server's terminated stream, one byte past the
    limit to tell "exactly the limit" from "too much"."""
    if request.content_length is not None:
        return request.get_data(cache=False)
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # no length and no terminated stream: nothing safe to read
    stream = request.environ["wsgi.input"]
    chunks, total = [], 0
    while True:
        chunk = stream.read(min(1 << 16, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise RequestEntityTooLarge()
    return b"".join(chunks)


def _json_object_body() -> Tuple[Optional[Dict[str, Any]], Optional[Response]]:
    # Only application/json: a form, text/plain or multipart body is what a
    # page on another site can make a browser send without a CORS preflight.
    if request.mimetype != "application/json":
        return None, error_response(415, "request body must be sent as application/json")
    raw = _read_body(current_app.config["MAX_CONTENT_LENGTH"])
    declared = request.content_length
    if declared is not None and len(raw) != declared:
        # gunicorn hands over what arrived before the client closed: a body
        # shorter than its Content-Length is a broken request, never stored.
        return None, error_response(
            400, f"request body is {len(raw)} bytes, Content-Length said {declared}"
        )
    if not raw:
        return None, error_response(400, "request body must be a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deep nesting
        return None, error_response(400, "request body is not valid JSON")
    if not isinstance(body, dict):
        return None, error_response(400, "request body must be a JSON object")
    return body, None


def _unknown_fields(body: Dict[str, Any], allowed: Tuple[str, ...]) -> Optional[Response]:
    extra = sorted(set(body) - set(allowed))
    if extra:
        return error_response(400, "unknown field(s): " + ", ".join(map(str, extra)))
    return None


# ---------------------------------------------------------------- factory
def create_app(settings: Settings, store: Optional[StudentStore] = None) -> Flask:
    app = Flask("student_api")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = True  # the labs' output order (alphabetical)
    store = store or StudentStore(settings.data_file)
    metrics = Metrics(store, __version__)
    throttle = FailureThrottle(settings.auth_failure_limit, settings.auth_failure_window)
    user_b = settings.username.encode("utf-8")
    pass_b = settings.password.encode("utf-8")
    last_store_error = {"message": None}
    list_body_cache: list = [None]  # [(students dict, encoded body)]
    app.extensions["student_store"] = store
    app.extensions["student_metrics"] = metrics

    def json_body(doc: Dict[str, Any]) -> bytes:
        """Exactly what jsonify() sends outside debug mode."""
        return (app.json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8")

    def list_body(students: Dict[str, str]) -> bytes:
        """The store hands out the same dict until the file changes: the
        list answer is serialized once per version of the file."""
        cached = list_body_cache[0]
        if cached is None or cached[0] is not students:
            cached = (students, json_body({"student_ages": students}))
            list_body_cache[0] = cached
        return cached[1]

    # Fast path: the exact header a client sends for the right credentials.
    expected_header = b"Basic " + base64.b64encode(user_b + b":" + pass_b)

    def authorized() -> bool:
        header = request.headers.get("Authorization", "").encode("latin-1", "replace")
        if hmac.compare_digest(header, expected_header):
            return True
        try:
            auth = request.authorization
        except (ValueError, UnicodeError):  # e.g. non-ASCII bytes where base64 belongs
            return False
        if auth is None or auth.type != "basic":
            return False
        given_user = (auth.username or "").encode("utf-8")
        given_pass = (auth.password or "").encode("utf-8")
        # Compare both (no short-circuit) in constant time.
        user_ok = hmac.compare_digest(given_user, user_b)
        pass_ok = hmac.compare_digest(given_pass, pass_b)
        return user_ok & pass_ok

    def requires_auth(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            client = request.remote_addr or ""
            wait = throttle.retry_after(client)
            if wait is not None:
                return error_response(
                    429, "too many failed logins: try again later", Retry_After=str(wait)
                )
            if not authorized():
                if "Authorization" in request.headers:  # a wrong guess, not a first contact
                    throttle.failed(client)
                return error_response(
                    401, None, WWW_Authenticate='Basic realm="student_api", charset="UTF-8"'
                )
            throttle.succeeded(client)
            return view(*args, **kwargs)

        return wrapper

    def unavailable(exc: StoreUnavailable) -> Response:
        if last_store_error["message"] != exc.message:
            last_store_error["message"] = exc.message
            log.error("data store unavailable (%s): %s", exc.kind, exc.message)
        return error_response(503, exc.message)

    def store_ok() -> None:
        if last_store_error["message"] is not None:
            log.warning("data store available again: %s", store.path)
            last_store_error["message"] = None

    # ---------------------------------------------------------- hooks
    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            return error_response(
                413, f"request body is larger than {settings.max_body_bytes} bytes"
            )
        return None

    @app.after_request
    def _observe(response: Response) -> Response:
        location = response.headers.get("Location")
        if location:
            # werkzeug's routing redirects (merged slashes) are absolute URLs
            # built from the client's Host header: keep only path and query.
            parts = urllib.parse.urlsplit(location)
            if parts.scheme or parts.netloc:
                response.headers["Location"] = urllib.parse.urlunsplit(
                    ("", "", "/" + parts.path.lstrip("/"), parts.query, "")
                )
        started = g.get("started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.observe(
                request.method, rule, response.status_code, time.perf_counter() - started
            )
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = None
        if status == 413:
            message = f"request body is larger than {settings.max_body_bytes} bytes"
        response = error_response(status, message)
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)

    # ---------------------------------------------------------- lab contract
    @app.get(COLLECTION)
    @requires_auth
    def list_students():
        try:
            students = store.read()
        except StoreUnavailable as exc:
            return unavailable(exc)
        store_ok()
        return Response(list_body(students), mimetype="application/json")

    def stored_name(name: str, students: Dict[str, str]) -> str:
        """The stored spelling a URL name addresses: as given, else NFC-trimmed."""
        return name if name in students else normalize(name)

    @app.get(f"{COLLECTION}/<name>")
    @requires_auth
    def get_student(name: str):
        try:
            students = store.read()
        except StoreUnavailable as exc:
            return unavailable(exc)
        store_ok()
        name = stored_name(name, students)
        if name not in students:
            return error_response(404)
        return jsonify({name: students[name]})

    # ---------------------------------------------------------- management
    @app.post(COLLECTION)
    @requires_auth
    def create_student():
        body, problem = _json_object_body()
        if problem:
            return problem
        problem = _unknown_fields(body, ("name", "age"))
        if problem:
            return problem
        for field in ("name", "age"):
            if field not in body:
                return error_response(400, f"missing field: {field}")
        message = validate_name(body["name"]) or validate_age(body["age"])
        if message:
            return error_response(400, message)
        name, age = normalize(body["name"]), body["age"]
        try:
            created = store.upsert(name, age, create_only=True, identity=identity)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except NameConflict as exc:
            return look_alike(name, exc.existing)
        store_ok()
        if created is None:
            return error_response(409, f"student {name!r} already exists; use PUT to change it")
        metrics.writes.labels("create").inc()
        response = jsonify({name: str(age)})
        response.status_code = 201
        response.headers["Location"] = f"{COLLECTION}/{name}"
        return response

    def look_alike(name: str, existing: str) -> Response:
        return error_response(
            409, f"student {name!r} looks like the existing {existing!r}; use that name"
        )

    @app.put(f"{COLLECTION}/<name>")
    @requires_auth
    def put_student(name: str):
        message = validate_name(name)
        if message:
            return error_response(400, message)
        name = normalize(name)
        body, problem = _json_object_body()
        if problem:
            return problem
        problem = _unknown_fields(body, ("name", "age"))
        if problem:
            return problem
        if "name" in body and (
            not isinstance(body["name"], str) or normalize(body["name"]) != name
        ):
            return error_response(400, "name in the body does not match the URL")
        if "age" not in body:
            return error_response(400, "missing field: age")
        message = validate_age(body["age"])
        if message:
            return error_response(400, message)
        try:
            created = store.upsert(name, body["age"], identity=identity)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except NameConflict as exc:
            return look_alike(name, exc.existing)
        store_ok()
        metrics.writes.labels("create" if created else "update").inc()
        response = jsonify({name: str(body["age"])})
        response.status_code = 201 if created else 200
        if created:
            response.headers["Location"] = f"{COLLECTION}/{name}"
        return response

    @app.delete(f"{COLLECTION}/<name>")
    @requires_auth
    def delete_student(name: str):
        try:
            deleted = store.delete(name)
            if not deleted and normalize(name) != name:
                name = normalize(name)
                deleted = store.delete(name)
        except StoreUnavailable as exc:
            return unavailable(exc)
        store_ok()
        if not deleted:
            return error_response(404)
        metrics.writes.labels("delete").inc()
        return jsonify({"deleted": name})

    # ---------------------------------------------------------- operations
    @app.get("/healthz")
    def healthz():
        healthy, message, count = store.check()
        if not healthy:
            if last_store_error["message"] != message:
                last_store_error["message"] = message
                log.error("health check failed: %s", message)
            response = jsonify({"status": "unavailable", "error": message})
            response.status_code = 503
            return response
        store_ok()
        return jsonify({"status": "ok", "students": count, "version": __version__})

    @app.get("/metrics")
    def metrics_endpoint():
        return Response(metrics.render(), mimetype=None, content_type=metrics.content_type)

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document(__version__))

    # ---------------------------------------------------------- read fast path
    flask_wsgi = app.wsgi_app
    one_prefix = COLLECTION + "/"
    one_rule = f"{COLLECTION}/<name>"
    json_headers = "application/json"

    def fast_wsgi(environ, start_response):
        """Answer the labs' two read routes for a correctly authenticated
        client without Flask's per-request machinery (about 4x less CPU: this
        is what the throughput/latency target is measured on). Everything
        else -- other methods and routes, any other Authorization header, a
        data file problem, an unknown student -- goes to Flask, so every
        answer is the same as Flask's own."""
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or last_store_error["message"] is not None
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")  # a body: Flask checks its size
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return flask_wsgi(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path == COLLECTION:
            name = None
        elif path.startswith(one_prefix) and len(path) > len(one_prefix) and "/" not in path[len(one_prefix):]:
            try:  # WSGI paths are latin-1 strings of the raw bytes
                name = path[len(one_prefix):].encode("latin-1").decode("utf-8")
            except UnicodeError:
                return flask_wsgi(environ, start_response)
        else:
            return flask_wsgi(environ, start_response)
        header = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        if not hmac.compare_digest(header, expected_header):
            return flask_wsgi(environ, start_response)
        if throttle.retry_after(environ.get("REMOTE_ADDR") or "") is not None:
            return flask_wsgi(environ, start_response)  # blocked: Flask answers 429
        started = time.perf_counter()
        try:
            students = store.read()
        except StoreUnavailable:
            return flask_wsgi(environ, start_response)
        if name is None:
            body, rule = list_body(students), COLLECTION
        elif name in students:
            body = json_body({name: students[name]})
            rule = one_rule
        else:
            return flask_wsgi(environ, start_response)
        start_response(
            "200 OK", [("Content-Type", json_headers), ("Content-Length", str(len(body)))]
        )
        metrics.observe("GET", rule, 200, time.perf_counter() - started)
        return [body]

    app.wsgi_app = fast_wsgi
    app.extensions["student_flask_wsgi"] = flask_wsgi  # for tests: Flask only
    return app
