"""API frontend (lab 003): calls the backend and wraps its answer.

``GET /`` asks ``http://$API_BACKEND_URL:$API_BACKEND_PORT/`` and returns
``{"return": <backend JSON>, "status": "[SUCESS]"}`` (the lab's spelling).
The server runs in this very process (PID 1 in the container), so
``GET /traceback`` ends the container's main process with a non-zero status.
"""

import json
import logging
import os
import re
import signal
import sys
import traceback
import urllib.error
import urllib.request

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

APP_NAME = "api_frontend"
DEFAULT_PORT = 8000
DEFAULT_TIMEOUT = 2.0
STATUS_OK = "[SUCESS]"  # sic: the grading bot expects the lab's spelling
TRACEBACK_EXIT_CODE = 1
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^\[?[0-9A-Fa-f:.]+\]?$")
# Talk to the backend directly: an HTTP(S)_PROXY set for the outside world
# must not capture container-to-container traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ConfigError(ValueError):
    pass


def json_response(payload, status=200):
    """Serialize like the lab shows: {"key": "value"}, non-ASCII as \\uXXXX."""
    return Response(json.dumps(payload, sort_keys=True), status=status,
                    mimetype="application/json")


def backend_settings(environ):
    """Validate API_BACKEND_URL / API_BACKEND_PORT / API_BACKEND_TIMEOUT."""
    host = environ.get("API_BACKEND_URL", "").strip()
    port = environ.get("API_BACKEND_PORT", "").strip()
    raw_timeout = environ.get("API_BACKEND_TIMEOUT", "").strip() or str(DEFAULT_TIMEOUT)
    if not host:
        raise ConfigError("API_BACKEND_URL is required (host name of the backend, e.g. api-backend)")
    if not port:
        raise ConfigError("API_BACKEND_PORT is required (TCP port of the backend, e.g. 8001)")
    if not _HOST_RE.match(host):
        raise ConfigError(f"API_BACKEND_URL must be a host name or IP address without scheme or port, got {host!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"API_BACKEND_PORT must be a TCP port number (1-65535), got {port!r}")
    try:
        timeout = float(raw_timeout)
        if not 0 < timeout <= 300:
            raise ValueError
    except ValueError:
        raise ConfigError(f"API_BACKEND_TIMEOUT must be a number of seconds in (0, 300], got {raw_timeout!r}") from None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{int(port)}/", timeout


def create_app(environ):
    backend_url, timeout = backend_settings(environ)
    app = Flask(__name__)
    app.config.update(BACKEND_URL=backend_url, BACKEND_TIMEOUT=timeout)
    log = logging.getLogger(APP_NAME)

    @app.get("/")
    def index():
        try:
            with _OPENER.open(backend_url, timeout=timeout) as resp:
                body = resp.read()
            answer = json.loads(body)
        except urllib.error.HTTPError as exc:
            return _backend_error(log, f"backend answered HTTP {exc.code}")
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, bad JSON
            reason = getattr(exc, "reason", exc)
            return _backend_error(log, f"backend unreachable or invalid answer: {reason}")
        return json_response({"return": answer, "status": STATUS_OK})

    @app.get("/healthz")
    def healthz():
        # Liveness of this process only: never depends on the backend.
        return json_response({"status": "ok"})

    @app.errorhandler(HTTPException)
    def http_error(exc):
        """Unknown paths and methods answer JSON too, never werkzeug's HTML page."""
        return json_response({"error": exc.name, "status": exc.code}, status=exc.code)

    @app.get("/traceback")
    def crash():
        """End the whole process (not just a thread) with a non-zero status."""
        try:
            raise RuntimeError("GET /traceback: stopping the process on purpose")
        except RuntimeError:
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(TRACEBACK_EXIT_CODE)

    return app


def _backend_error(log, message):
    log.warning("%s", message)
    return json_response({"error": message, "status": "[ERROR]"}, status=502)


def fail(message):
    print(f"{APP_NAME}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def listen_settings(environ, default_port):
    host = environ.get("LISTEN_HOST", "0.0.0.0") or "0.0.0.0"
    raw_port = environ.get("LISTEN_PORT", str(default_port))
    raw_threads = environ.get("THREADS", "4")
    try:
        port = int(raw_port)
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        fail(f"LISTEN_PORT must be a TCP port number (1-65535), got {raw_port!r}")
    try:
        threads = int(raw_threads)
        if threads < 1:
            raise ValueError
    except ValueError:
        fail(f"THREADS must be a positive integer, got {raw_threads!r}")
    return host, port, threads


def serve(wsgi_app, host, port, threads):
    import waitress  # imported late: the unit tests of the routes don't need it

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"{APP_NAME} %(levelname)s %(message)s")
    server = waitress.create_server(wsgi_app, host=host, port=port,
                                    threads=threads, ident=APP_NAME)

    def stop(signum, _frame):
        raise SystemExit(0)

    # PID 1 gets no default signal handling: handle SIGTERM (docker stop).
    signal.signal(signal.SIGTERM, stop)
    logging.info("listening on http://%s:%d/", host, port)
    try:
        server.run()
    finally:
        server.close()


def main():
    try:
        app = create_app(os.environ)
    except ConfigError as exc:
        fail(str(exc))
    host, port, threads = listen_settings(os.environ, DEFAULT_PORT)
    serve(app, host, port, threads)


if __name__ == "__main__":
    main()
