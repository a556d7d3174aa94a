"""Slow and idle clients, and a recreated backend, behind the stacks' proxy (issue 15, items 2 and 4).

The real app images (gunicorn gthread, Apache prefork, waitress) run behind the real proxy image
(labs/proxy, HAProxy) with the configuration roles/compose_stack renders (the filter's own proxy_config,
the role's compose_stack_proxy defaults), wired the way the roles declare them: the apps publish nothing,
the proxy publishes one port per app on 127.0.0.1:18200-18299.

- 50 idle and 50 half-header connections held open against each port: a normal request still answers
  in under 100 ms (median of 5), and the proxy closes the slow ones within http_request_timeout (+ margin).
- The API pair's backend recreated (stopped, removed, started again) under 16 concurrent clients:
  0 failed requests, and Docker's restart after /traceback still happens exactly once (no retry kills it again).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import faults_harness as harness

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "compose_stack"
_spec = importlib.util.spec_from_file_location("compose_stack_filter", ROLE / "filter_plugins" / "compose_stack.py")
flt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flt)
PROXY = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["compose_stack_proxy"]
PROXY_IMAGE = os.environ.get("FAULTS_IMAGE_PROXY", "labs/proxy:latest")
HEADER_TIMEOUT = float(PROXY["http_request_timeout"].rstrip("s"))
# Host ports of this test (the range the fault tests of the proxy own).
PORTS = {"student_api": 18201, "website": 18202, "api_backend": 18203, "api_frontend": 18204}
SLOW = 50
FAST_LIMIT = 0.100


@pytest.fixture(scope="module")
def proxied(engine, stack):
    """{app: base URL through the proxy}, and the containers: {app: container}."""
    try:
        engine.images.get(PROXY_IMAGE)
    except Exception:  # noqa: BLE001
        pytest.skip("%s missing (build it: ansible-playbook playbooks/images.yml)" % PROXY_IMAGE)
    net = stack.network("proxied")
    api, _ = stack.student_api("p-student-api", net, publish=False)
    website, _ = stack.run("website", "p-student-website", net, env={
        "API_URL": "http://%sp-student-api:5000" % harness.PREFIX,
        "USERNAME_FILE": "/run/secrets/api_username", "PASSWORD_FILE": "/run/secrets/api_password",
    }, volumes=stack.secret_mounts(), publish=False)
    backend, _ = stack.run("api_backend", "p-api-backend", net, publish=False)
    frontend, _ = stack.run("api_frontend", "p-api-frontend", net, env={
        "API_BACKEND_URL": harness.PREFIX + "p-api-backend", "API_BACKEND_PORT": "8001"}, publish=False)
    containers = {"student_api": api, "website": website, "api_backend": backend, "api_frontend": frontend}
    routes = [{"name": app, "mode": "http", "port": str(PORTS[app]), "service": containers[app].name,
               "target": str(harness.PORTS[app])} for app in containers]
    config = Path(stack.secrets_dir) / "proxy.cfg"
    config.write_text(flt.proxy_config("faulttest", routes, PROXY))
    config.chmod(0o644)
    proxy = engine.containers.create(
        PROXY_IMAGE, name=harness.PREFIX + "proxy", detach=True, labels=harness.LABELS, read_only=True,
        tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        restart_policy={"Name": "always"}, mem_limit="64m", nano_cpus=500_000_000, pids_limit=256,
        ports={"%d/tcp" % p: ("127.0.0.1", p) for p in PORTS.values()},
        volumes={str(config): {"bind": "/etc/haproxy/haproxy.cfg", "mode": "ro"}},
        healthcheck={"test": ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8404"],
                     "interval": harness.HEALTH_INTERVAL_NS, "retries": 3}, network=net.name)
    stack.containers.append(proxy)
    proxy.start()
    for container in list(containers.values()) + [proxy]:
        harness.wait_healthy(container, timeout=90)
    urls = {app: "http://127.0.0.1:%d" % port for app, port in PORTS.items()}
    return urls, containers


def _normal(url, app):
    auth = (harness.API_USER, harness.API_PASSWORD) if app == "student_api" else None
    path = harness.COLLECTION if app == "student_api" else "/"
    start = time.monotonic()
    response = harness.http("GET", url + path, auth=auth, timeout=5)
    return time.monotonic() - start, response


def _open_slow(port):
    """SLOW connections that send nothing and SLOW that send half a request header."""
    socks = []
    for i in range(2 * SLOW):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    return socks


def _closed_by_peer(sock, deadline):
    """True when the proxy closes the connection before deadline (a 408 may come first)."""
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


@pytest.mark.parametrize("app", sorted(PORTS))
def test_slow_clients_do_not_starve_the_app(proxied, app, figures):
    urls, _ = proxied
    _normal(urls[app], app)  # warm: the proxy has resolved the app, the app has started its workers
    opened = time.monotonic()
    socks = _open_slow(PORTS[app])
    try:
        time.sleep(0.5)
        timings = []
        for _ in range(5):
            seconds, response = _normal(urls[app], app)
            assert response is not None and response.status_code == 200, (app, response)
            timings.append(seconds)
        median = statistics.median(timings)
        figures.note("slow clients, %s behind the proxy: %d idle + %d half-header open, normal request "
                     "median %.1f ms, max %.1f ms" % (app, SLOW, SLOW, median * 1000, max(timings) * 1000))
        assert median < FAST_LIMIT, "%s: %.0f ms with %d slow connections open" % (app, median * 1000, 2 * SLOW)
        deadline = opened + HEADER_TIMEOUT + 5
        still_open = [s for s in socks if not _closed_by_peer(s, deadline)]
        closed_after = time.monotonic() - opened
        figures.note("slow clients, %s: %d/%d closed by the proxy within %.1f s"
                     % (app, len(socks) - len(still_open), len(socks), closed_after))
        assert not still_open, "%d slow connections still open after %.1f s" % (len(still_open), closed_after)
    finally:
        for sock in socks:
            sock.close()


def test_backend_recreated_under_load_fails_no_request(proxied, stack, figures):
    """16 clients on kept-alive connections (scripts/http_load.py, as molecule/registry and the bench run it)."""
    urls, containers = proxied
    stop_file = Path(stack.secrets_dir) / "load.stop"
    load = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "http_load.py"), "--concurrency", "16",
                             "--stop-file", str(stop_file), "--max-seconds", "120", urls["api_backend"] + "/"],
                            stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        old = containers["api_backend"]
        started = time.monotonic()
        old.stop(timeout=10)  # what docker compose up does to a recreated service: stop, remove, create, start
        stack.remove(old)
        new, _ = stack.run("api_backend", "p-api-backend", stack.networks[-1], publish=False)
        containers["api_backend"] = new
        harness.wait_healthy(new, timeout=60)
        recreated = time.monotonic() - started
        time.sleep(1.5)
    finally:
        stop_file.touch()
        report = json.loads(load.communicate(timeout=60)[0])
    figures.note("backend recreated behind the proxy in %.1f s under 16 kept-alive clients: %d requests, %d failed %s"
                 % (recreated, report["requests"], report["failed"], report["failures"]))
    assert report["requests"] > 100
    assert report["failed"] == 0, report


def test_traceback_still_ends_pid1_once(proxied):
    """Lab 003: /traceback ends PID 1 and Docker restarts the container; the proxy must not retry it."""
    urls, containers = proxied
    backend = containers["api_backend"]
    harness.wait_healthy(backend, timeout=60)
    before = harness.inspect(backend)["RestartCount"]
    response = harness.http("GET", urls["api_backend"] + "/traceback", timeout=30)
    assert response is None or response.status_code >= 500
    harness.wait_restarted(backend, before, timeout=60)
    harness.wait_healthy(backend, timeout=60)
    time.sleep(2)
    assert harness.inspect(backend)["RestartCount"] == before + 1
    seconds, response = _normal(urls["api_backend"], "api_backend")
    assert response is not None and response.status_code == 200
