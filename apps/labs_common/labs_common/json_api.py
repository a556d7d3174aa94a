"""What every JSON API of the labs answers the same way (lab 003's API pair).

- ``json_response``: ``{"key": "value"}`` as the lab shows it (default separators, sorted keys, non-ASCII
  as ``\\uXXXX``);
- ``add_basics(app)``: ``GET /healthz`` (liveness of this process only), JSON for every HTTP error (never
  werkzeug's HTML page) and ``GET /traceback``, which ends the whole process (not just a thread) with
  ``TRACEBACK_EXIT_CODE`` so that the restart policy can be seen at work.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from flask import Response
from werkzeug.exceptions import HTTPException

TRACEBACK_EXIT_CODE = 1


def json_response(payload, status=200):
    """Serialize like the lab shows: {"key": "value"}, non-ASCII as \\uXXXX."""
    return Response(json.dumps(payload, sort_keys=True), status=status, mimetype="application/json")


def add_basics(app):
    """Register /healthz, the JSON error handler and /traceback on a Flask app; returns the app."""

    @app.get("/healthz")
    def healthz():
        return json_response({"status": "ok"})

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return json_response({"error": exc.name, "status": exc.code}, status=exc.code)

    @app.get("/traceback")
    def crash():
        try:
            raise RuntimeError("GET /traceback: stopping the process on purpose")
        except RuntimeError:
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(TRACEBACK_EXIT_CODE)

    return app
