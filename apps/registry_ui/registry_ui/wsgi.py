"""WSGI entry point: ``gunicorn registry_ui.wsgi:app``.

A configuration error ends the server at start with one clear line.
"""

import logging
import sys

from registry_ui import ConfigError, create_app

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="registry_ui %(levelname)s %(message)s")

try:
    app = create_app()
except ConfigError as exc:
    print(f"registry_ui: error: {exc}", file=sys.stderr, flush=True)
    sys.exit(2)
