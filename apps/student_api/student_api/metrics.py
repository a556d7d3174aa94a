"""Prometheus metrics.

Under gunicorn every worker is its own process, so the launcher sets
PROMETHEUS_MULTIPROC_DIR (a directory on the /tmp tmpfs) *before*
prometheus_client is imported: each worker then writes its samples to
memory-mapped files and /metrics aggregates all workers. Without that
variable (unit tests, single process) an ordinary in-process registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

from .store import StudentStore

KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get(
        "prometheus_multiproc_dir", ""
    )


class _StoreCollector:
    """Scrape-time gauges computed from the (cached) data file."""

    def __init__(self, store: StudentStore, version: str):
        self.store = store
        self.version = version

    def collect(self):
        healthy, _message, count = self.store.check()
        students = GaugeMetricFamily(
            "student_api_students", "Number of students in the data file."
        )
        students.add_metric([], count)
        yield students
        ok = GaugeMetricFamily(
            "student_api_data_file_healthy",
            "1 if the data file exists and parses, else 0.",
        )
        ok.add_metric([], 1 if healthy else 0)
        yield ok
        info = GaugeMetricFamily(
            "student_api_build_info", "Build information.", labels=["version"]
        )
        info.add_metric([self.version], 1)
        yield info


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, store: StudentStore, version: str):
        self.registry = CollectorRegistry()
        if multiprocess_dir():
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)
            target = None  # samples go to the mmap files, read back by the collector
        else:
            target = self.registry
        self.requests = Counter(
            "student_api_http_requests",
            "HTTP requests handled, by method, route and status code.",
            ["method", "endpoint", "status"],
            registry=target,
        )
        self.latency = Histogram(
            "student_api_http_request_duration_seconds",
            "Time spent handling HTTP requests, by method and route.",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=target,
        )
        self.writes = Counter(
            "student_api_data_writes",
            "Writes of the data file, by operation.",
            ["operation"],
            registry=target,
        )
        self.registry.register(_StoreCollector(store, version))
        self._request_children: dict = {}
        self._latency_children: dict = {}

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        # Bounded labels: any invented method is "other" (endpoint is a route
        # rule or "unmatched", status one of werkzeug's known codes).
        if method not in KNOWN_METHODS:
            method = "other"
        # Label children are cached in plain dicts: labels() takes a lock and
        # builds tuples on every call, which shows on the hot path.
        key = (method, endpoint, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self.requests.labels(method, endpoint, str(status))
            self._request_children[key] = counter
        counter.inc()
        histogram = self._latency_children.get(key[:2])
        if histogram is None:
            histogram = self.latency.labels(method, endpoint)
            self._latency_children[key[:2]] = histogram
        histogram.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
