"""A Flask app served by waitress in the container's main process (PID 1): lab 003's API pair, lab 002's app.

The server runs in the very process Docker starts, so a crash ends the container's main process (the
restart policy brings it back) and ``docker stop``'s SIGTERM must be handled here (PID 1 gets no default).
"""

from __future__ import annotations

import logging
import signal
import sys


def fail(app_name, message):
    """One line on stderr and exit status 2: a configuration the app refuses to start with."""
    print(f"{app_name}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def listen_settings(environ, default_port):
    """(host, port, threads) from LISTEN_HOST, LISTEN_PORT and THREADS; ValueError naming the variable."""
    host = environ.get("LISTEN_HOST", "0.0.0.0") or "0.0.0.0"
    raw_port = environ.get("LISTEN_PORT", str(default_port))
    raw_threads = environ.get("THREADS", "4")
    try:
        port = int(raw_port)
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise ValueError(f"LISTEN_PORT must be a TCP port number (1-65535), got {raw_port!r}") from None
    try:
        threads = int(raw_threads)
        if threads < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"THREADS must be a positive integer, got {raw_threads!r}") from None
    return host, port, threads


def serve(app_name, wsgi_app, host, port, threads):
    """Serve until SIGTERM (exit 0); logs on stderr prefixed with the app's name."""
    import waitress  # imported late: the unit tests of the routes don't need it

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"{app_name} %(levelname)s %(message)s")
    server = waitress.create_server(wsgi_app, host=host, port=port, threads=threads, ident=app_name)

    def stop(signum, _frame):
        raise SystemExit(0)

    # PID 1 gets no default signal handling: handle SIGTERM (docker stop).
    signal.signal(signal.SIGTERM, stop)
    logging.info("listening on http://%s:%d/", host, port)
    try:
        server.run()
    finally:
        server.close()


def run(app_name, wsgi_app, environ, default_port):
    """Read the listen settings (exit 2 with one line when wrong) and serve."""
    try:
        host, port, threads = listen_settings(environ, default_port)
    except ValueError as exc:
        fail(app_name, str(exc))
    serve(app_name, wsgi_app, host, port, threads)
