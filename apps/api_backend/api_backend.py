"""API backend (lab 003): a tiny JSON API served by waitress.

The server runs in this very process, so in the container it is PID 1:
``GET /traceback`` ends it with a non-zero status and Docker's restart
policy brings the container back.
"""

import json
import logging
import os
import signal
import sys
import traceback

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

APP_NAME = "api_backend"
DEFAULT_PORT = 8001
# The lab's contract, byte for byte: default json separators, ASCII escapes.
BODY = {"body": "Je suis une r\u00e9ponse du backend"}
TRACEBACK_EXIT_CODE = 1

app = Flask(__name__)


def json_response(payload, status=200):
    """Serialize like the lab shows: {"key": "value"}, non-ASCII as \\uXXXX."""
    return Response(json.dumps(payload, sort_keys=True), status=status,
                    mimetype="application/json")


@app.get("/")
def index():
    return json_response(BODY)


@app.get("/healthz")
def healthz():
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
    host, port, threads = listen_settings(os.environ, DEFAULT_PORT)
    serve(app, host, port, threads)


if __name__ == "__main__":
    main()
