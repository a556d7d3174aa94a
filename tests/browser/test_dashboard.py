"""The monitoring dashboard (apps/dashboard/html) in headless Chromium against a stub Prometheus API.

The stub answers /api/v1/query and /api/v1/query_range as Prometheus 2.42 does (the shapes the page
reads), for two stacks; the test waits for the page to draw, asserts one row per service with its
health, restarts and two graphs whose polylines carry the hour's points and move (not a flat line),
and saves a screenshot to artifacts/browser/dashboard.png. Needs chromium, chromium-driver and selenium
(the root conftest.py names what is missing).
"""

import contextlib
import json
import math
import re
import sys
import threading
import time
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "apps" / "dashboard" / "html"
ARTIFACTS = ROOT / "artifacts" / "browser"
sys.path.insert(0, str(Path(__file__).parent))
from browser_session import chromium_session, load_selenium, save_screenshot  # noqa: E402

SERVICES = [("etl", "etl-postgres", "healthy", 1 << 30), ("etl", "etl-metrics", "unhealthy", 64 << 20),
            ("monitoring", "monitoring-prometheus", "healthy", 512 << 20)]
# An EC2 deployment: the central Prometheus labels each host's series with host and address; the monitoring
# stack (its agent) runs on both hosts under the same names.
HOSTS = {"etl-host": "203.0.113.10", "student-host": "203.0.113.20"}
MULTI = [("etl", "etl-postgres", "healthy", 1 << 30, "etl-host"),
         ("monitoring", "monitoring-exporter", "healthy", 96 << 20, "etl-host"),
         ("monitoring", "monitoring-exporter", "healthy", 96 << 20, "student-host"),
         ("student", "student-api", "healthy", 256 << 20, "student-host")]


def vector(values):
    return [{"metric": metric, "value": [time.time(), str(value)]} for metric, value in values]


def ids(stack, service, host=None):
    labels = {"stack": stack, "service": service, "container": service}
    if host:
        labels.update(host=host, address=HOSTS[host])
    return labels


def answer(path, params, services=None):
    query = params.get("query", "")
    multi = services is not None
    services = [s if len(s) == 5 else s + (None,) for s in (services or SERVICES)]
    if path.endswith("query_range"):
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        series = []
        for n, (stack, service, _, limit, host) in enumerate(services):
            if "cpu" in query:
                f = lambda i: 20 + 15 * math.sin(i / 10 + n)  # noqa: E731
            else:
                f = lambda i: limit * (0.4 + 0.2 * math.sin(i / 15 + n))  # noqa: E731
            points = [[start + i * step, str(f(i))] for i in range(int((end - start) / step) + 1)]
            series.append({"metric": ids(stack, service, host), "values": points})
        return {"resultType": "matrix", "result": series}
    if query.startswith("labs_container_running"):
        result = vector([(dict(ids(s, v, o), oneshot="false"), 1) for s, v, _, _, o in services])
    elif query.startswith("labs_container_health"):
        result = vector([(dict(ids(s, v, o), status=h), 1) for s, v, h, _, o in services])
    elif query.startswith("labs_container_restart_count"):
        result = vector([(ids(s, v, o), n) for n, (s, v, _, _, o) in enumerate(services)])
    elif query.startswith("labs_container_memory_limit_bytes"):
        result = vector([(ids(s, v, o), limit) for s, v, _, limit, o in services])
    elif query.startswith("labs_container_published_port") and multi:
        # The student API published on every address of its host: the link goes to that host's address.
        result = vector([(dict(ids("student", "student-api", "student-host"), host_ip="0.0.0.0", host_port="5000",
                               container_port="5000"), 1)])
    elif query.startswith("labs_container_published_port"):
        result = vector([(dict(ids("monitoring", "monitoring-prometheus"), host_ip="127.0.0.1", host_port="9091",
                               container_port="9090"), 1)])
    elif query.startswith("ALERTS") and multi:
        result = vector([({"alertname": "ServiceDown", "stack": "student", "service": "student-api",
                           "host": "student-host"}, 1)])
    elif query.startswith("ALERTS"):
        result = vector([({"alertname": "ServiceUnhealthy", "stack": "etl", "service": "etl-metrics"}, 1)])
    else:
        result = []
    return {"resultType": "vector", "result": result}


# What the webhook sink keeps (apps/container_exporter's sink, proxied read-only at /alerts.json), oldest first.
RECEIVED = [
    {"received_at": 1_700_000_000, "status": "firing", "annotations": {"summary": "student-api is down"},
     "labels": {"alertname": "ServiceDown", "severity": "critical", "host": "student-host", "stack": "student",
                "service": "student-api"}},
    {"received_at": 1_700_000_060, "status": "resolved", "annotations": {"summary": "etl-metrics is down"},
     "labels": {"alertname": "ServiceDown", "severity": "critical", "host": "etl-host", "stack": "etl",
                "service": "etl-metrics"}},
]


class Handler(SimpleHTTPRequestHandler):
    services = None

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/alerts.json":
            return self.send_json(RECEIVED)
        if url.path in ("/api/v1/query", "/api/v1/query_range"):
            params = dict(urllib.parse.parse_qsl(url.query))
            return self.send_json({"status": "success", "data": answer(url.path, params, self.services)})
        return super().do_GET()

    def send_json(self, document):
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def dashboard(handler, rows: int, screenshot: str):
    """(selenium, driver) on the dashboard served with this fake Prometheus, once it drew `rows` service rows."""
    selenium = load_selenium()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with chromium_session("dashboard-check-chromium-", page_load_timeout=30) as driver:
            driver.get("http://127.0.0.1:%d/" % server.server_address[1])
            selenium.WebDriverWait(driver, 20).until(
                lambda d: len(d.find_elements(selenium.By.CSS_SELECTOR, "tr.service")) == rows)
            save_screenshot(driver, str(ARTIFACTS / screenshot))
            yield selenium, driver
    finally:
        server.shutdown()


def test_dashboard_draws_every_service_with_graphs_that_carry_data():
    with dashboard(Handler, len(SERVICES), "dashboard.png") as (selenium, driver):
        rows = driver.find_elements(selenium.By.CSS_SELECTOR, "tr.service")
        assert [r.get_attribute("data-service") for r in rows] == ["etl-metrics", "etl-postgres",
                                                                   "monitoring-prometheus"]
        assert rows[0].find_element(selenium.By.CSS_SELECTOR, ".badge.unhealthy").text == "unhealthy"
        assert [r.find_elements(selenium.By.TAG_NAME, "td")[3].text for r in rows] == ["1", "0", "2"]
        graphs = driver.find_elements(selenium.By.CSS_SELECTOR, "svg.graph")
        assert len(graphs) == 2 * len(SERVICES)
        for svg in graphs:
            assert int(svg.get_attribute("data-points")) == 121  # an hour at a 30 s step
            points = svg.find_element(selenium.By.TAG_NAME, "polyline").get_attribute("points")
            ys = [float(y) for y in re.findall(r",([0-9.]+)", points)]
            assert len(ys) == 121 and max(ys) - min(ys) > 5, "a flat or empty graph"
        assert "1 alert(s) firing" in driver.find_element(selenium.By.ID, "firing").text
        link = driver.find_element(selenium.By.ID, "prometheus-link").get_attribute("href")
        assert link == "http://127.0.0.1:9091/classic/targets"
        assert driver.find_element(selenium.By.ID, "status").text.startswith("updated ")


class MultiHostHandler(Handler):
    services = MULTI


def test_dashboard_shows_every_hosts_stacks_apart():
    with dashboard(MultiHostHandler, len(MULTI), "dashboard-hosts.png") as (selenium, driver):
        tables = driver.find_elements(selenium.By.CSS_SELECTOR, "table.stack")
        assert [t.get_attribute("data-stack") for t in tables] == [
            "etl on etl-host", "monitoring on etl-host", "monitoring on student-host", "student on student-host"]
        # The same service on two hosts: two rows, each with its own graphs carrying data.
        for table in tables[1:3]:
            [row] = table.find_elements(selenium.By.CSS_SELECTOR, "tr.service")
            assert row.get_attribute("data-service") == "monitoring-exporter"
            for svg in row.find_elements(selenium.By.CSS_SELECTOR, "svg.graph"):
                assert int(svg.get_attribute("data-points")) == 121
        link = tables[3].find_element(selenium.By.TAG_NAME, "a").get_attribute("href")
        assert link == "http://203.0.113.20:5000/"
        # A firing alert names the host it fires on.
        firing = driver.find_element(selenium.By.ID, "firing")
        assert "ServiceDown student-host student student-api" in firing.text


def test_alerts_page_lists_what_the_webhook_received_with_its_host():
    selenium = load_selenium()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium_session("dashboard-check-chromium-", page_load_timeout=30) as driver:
            driver.get("http://127.0.0.1:%d/alerts.html" % server.server_address[1])
            selenium.WebDriverWait(driver, 20).until(
                lambda d: len(d.find_elements(selenium.By.CSS_SELECTOR, "#alerts tbody tr")) == len(RECEIVED))
            heads = [th.text for th in driver.find_elements(selenium.By.CSS_SELECTOR, "#alerts thead th")]
            rows = [[td.text for td in tr.find_elements(selenium.By.TAG_NAME, "td")]
                    for tr in driver.find_elements(selenium.By.CSS_SELECTOR, "#alerts tbody tr")]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            save_screenshot(driver, str(ARTIFACTS / "alerts.png"))
    finally:
        server.shutdown()
    # Newest first, each in its host's column.
    host = heads.index("host")
    assert [(r[1], r[host], r[host + 1], r[host + 2]) for r in rows] == [
        ("resolved", "etl-host", "etl", "etl-metrics"), ("firing", "student-host", "student", "student-api")]
    assert rows[0][0].startswith("2023-11-14T22:1")
