"""``serve-metrics``: a tiny HTTP server so Prometheus can scrape the job
metrics the stages leave in the metrics directory.

  GET /metrics  all ``*.prom`` files merged (text format 0.0.4)
  GET /healthz  200 "ok" while the metrics directory is readable, else 503
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from etl.metrics import merge_directory

log = logging.getLogger("etl.server")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, metrics_dir: str) -> None:
        self.metrics_dir = metrics_dir
        super().__init__(address, MetricsHandler)


class MetricsHandler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "etl-metrics"
    sys_version = ""

    def _send(self, status: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _handle(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = merge_directory(self.server.metrics_dir, time.time()).encode("utf-8")
            self._send(200, body, CONTENT_TYPE, head)
        elif path == "/healthz":
            ok = os.path.isdir(self.server.metrics_dir) and os.access(
                self.server.metrics_dir, os.R_OK | os.X_OK
            )
            self._send(200 if ok else 503, b"ok\n" if ok else b"metrics directory not readable\n",
                       "text/plain; charset=utf-8", head)
        elif path == "/":
            self._send(200, b'<html><body><a href="/metrics">metrics</a></body></html>\n',
                       "text/html; charset=utf-8", head)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8", head)

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self._handle(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(head=True)

    def _not_allowed(self) -> None:
        self.send_response(405)
        body = b"method not allowed\n"
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def __getattr__(self, name: str):
        # http.server answers 501 (a 5xx) to any method without a do_<METHOD>:
        # every other method, invented ones included, is a client error here.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


def serve(addr: str, port: int, metrics_dir: str, ready: Optional[threading.Event] = None) -> int:
    """Serve until SIGTERM/SIGINT; returns 0."""
    server = MetricsServer((addr, port), metrics_dir)

    def stop(signum, _frame) -> None:
        log.info("signal %d received, shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    log.info("serving metrics addr=%s port=%d metrics_dir=%s", addr, server.server_address[1], metrics_dir)
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    return 0
