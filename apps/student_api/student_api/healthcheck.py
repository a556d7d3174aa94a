"""Docker HEALTHCHECK: ``python -m student_api.healthcheck`` exits 0 when
GET http://127.0.0.1:$PORT/healthz answers 200, else 1 (with one line why)."""

from __future__ import annotations

import http.client
import os
import sys


def main() -> int:
    port = int(os.environ.get("PORT") or 5000)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        body = response.read(512).decode("utf-8", "replace")
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if response.status != 200:
        print(f"unhealthy: HTTP {response.status} {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
