"""API backend (lab 003): a tiny JSON API served by waitress.

The server runs in this very process, so in the container it is PID 1:
``GET /traceback`` ends it with a non-zero status and Docker's restart
policy brings the container back. What the pair shares (JSON answers,
/healthz, /traceback, listen settings, serving) is labs_common
(apps/labs_common, staged into the image: see SHARED).
"""

import os

from flask import Flask
from labs_common.json_api import TRACEBACK_EXIT_CODE, add_basics, json_response  # noqa: F401 (the tests read it)
from labs_common.waitress_app import run

APP_NAME = "api_backend"
DEFAULT_PORT = 8001
# The lab's contract, byte for byte: default json separators, ASCII escapes.
BODY = {"body": "Je suis une r\u00e9ponse du backend"}

app = add_basics(Flask(__name__))


@app.get("/")
def index():
    return json_response(BODY)


def main():
    run(APP_NAME, app, os.environ, DEFAULT_PORT)


if __name__ == "__main__":
    main()
