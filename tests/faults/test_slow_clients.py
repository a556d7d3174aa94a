"""Slow and idle clients, and a recreated backend, behind the stacks' proxy (issue 15, items 2 and 4).

The real app images (gunicorn gthread, Apache prefork, waitress) run behind the real proxy image
(labs/proxy, HAProxy) with the configuration roles/compose_stack renders (the filter's own proxy_config,
the role's compose_stack_proxy defaults), wired the way the roles declare them: the apps publish nothing,
the proxy publishes one port per app on 127.0.0.1:18200-18299.

- 50 idle and 50 half-header connections held open against each port: a normal request still answers
  in under 100 ms (median of 20; p99 reported), and the proxy closes the slow ones within
  http_request_timeout (+ margin).
- The same against the registry stack's two published ports, through its proxy configured exactly as
  roles/registry declares it (registry: `proxy: tcp`, registry UI: `proxy: http`; the config is the role
  filter's own for those routes, the services reached by their Compose names): the real labs/registry
  (htpasswd auth) and labs/registry_ui. On the tcp route the proxy sees no HTTP, so the slow connections
  are closed by its client_timeout instead.
- The API pair's backend recreated (stopped, removed, started again) under 16 concurrent clients:
  0 failed requests, and Docker's restart after /traceback still happens exactly once (no retry kills it again).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import secrets
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
CLIENT_TIMEOUT = float(PROXY["client_timeout"].rstrip("s"))
SLOW = 50
FAST_LIMIT = 0.100
SAMPLES = 20  # normal requests timed while the slow connections are open (the median must be under FAST_LIMIT)

# The registry stack as roles/registry declares it, published on this test's ports instead of 5001/8081.
REGISTRY_ROLE = ROOT / "roles" / "registry"
REGISTRY_DEFAULTS = yaml.safe_load((REGISTRY_ROLE / "defaults" / "main.yml").read_text())
REGISTRY_STACK = REGISTRY_DEFAULTS["registry_stack"]
REGISTRY_VARS = yaml.safe_load((REGISTRY_ROLE / "vars" / "main.yml").read_text())
REGISTRY_IMAGES = {"registry": os.environ.get("FAULTS_IMAGE_REGISTRY", "labs/registry:latest"),
                   "registry-ui": os.environ.get("FAULTS_IMAGE_REGISTRY_UI", "labs/registry_ui:latest")}
REGISTRY_PORTS = {"registry": 18205, "registry-ui": 18206}
REGISTRY_USER = "faulttest"
REGISTRY_PASSWORD = secrets.token_urlsafe(18)


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
    proxy = _start_proxy(engine, stack, net, config, PORTS.values(), "proxy")
    for container in list(containers.values()) + [proxy]:
        harness.wait_healthy(container, timeout=90)
    urls = {app: "http://127.0.0.1:%d" % port for app, port in PORTS.items()}
    return urls, containers


def _start_proxy(engine, stack, net, config, ports, name):
    """The proxy image run as compose_stack runs a stack's proxy, publishing ``ports`` on 127.0.0.1."""
    proxy = engine.containers.create(
        PROXY_IMAGE, name=harness.PREFIX + name, detach=True, labels=harness.LABELS, read_only=True,
        tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        restart_policy={"Name": "always"}, mem_limit="64m", nano_cpus=500_000_000, pids_limit=256,
        ports={"%d/tcp" % p: ("127.0.0.1", p) for p in ports},
        volumes={str(config): {"bind": "/etc/haproxy/haproxy.cfg", "mode": "ro"}},
        healthcheck={"test": ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8404"],
                     "interval": harness.HEALTH_INTERVAL_NS, "retries": 3}, network=net.name)
    stack.containers.append(proxy)
    proxy.start()
    return proxy


def _container_port(port):
    """The container side of a declared port ('addr:host:container'), a role variable resolved."""
    target = str(port).rsplit(":", 1)[-1]
    if target.startswith("{{"):
        target = str(REGISTRY_VARS[target.strip("{} ")])
    return target


def registry_proxy_config():
    """(HAProxy config, routes) of the registry stack's proxy, rendered by the role's filter from
    roles/registry's declaration (each service's `proxy` mode, networks and container port)."""
    definition = {"name": REGISTRY_STACK["name"]}
    validated = {}
    for sname, body in REGISTRY_STACK["services"].items():
        assert body.get("proxy") in ("http", "tcp"), "%s is no longer behind the proxy: %s" % (sname, body)
        validated[sname] = {"proxy": body["proxy"], "networks": list(body["networks"]),
                            "ports": ["127.0.0.1:%d:%s" % (REGISTRY_PORTS[sname], _container_port(body["ports"][0]))]}
    settings = {**copy.deepcopy(PROXY), **(REGISTRY_STACK.get("proxy") or {})}
    behind = flt._with_proxy(definition, validated, settings)
    assert sorted(behind.values()) == sorted(REGISTRY_PORTS), behind
    return definition["configs"][flt.PROXY_CONFIG]["content"]


@pytest.fixture(scope="module")
def registry_proxied(engine, stack):
    """The registry and its UI on one network under their service names, behind the registry stack's proxy.
    {service: (base URL, route mode)}."""
    for image in list(REGISTRY_IMAGES.values()) + [PROXY_IMAGE]:
        try:
            engine.images.get(image)
        except Exception:  # noqa: BLE001
            pytest.skip("%s missing (build it: ansible-playbook molecule/resources/test_images.yml)" % image)
    import bcrypt  # the registry verifies bcrypt htpasswd entries, as roles/registry writes them

    uid = REGISTRY_VARS.get("registry_uid", harness.APP_UID)
    net = stack.network(REGISTRY_STACK["services"]["registry"]["networks"][0])
    data = stack.volume("registry-data")
    rounds = REGISTRY_DEFAULTS["registry_htpasswd_rounds"]
    htpasswd = "%s:%s\n" % (REGISTRY_USER, bcrypt.hashpw(REGISTRY_PASSWORD.encode(), bcrypt.gensalt(rounds)).decode())
    port = _container_port(REGISTRY_STACK["services"]["registry"]["ports"][0])
    registry = stack.run_image(REGISTRY_IMAGES["registry"], "registry", net, aliases=["registry"], env={
        "REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM": "faulttest",
        "REGISTRY_AUTH_HTPASSWD_PATH": "/run/secrets/htpasswd", "REGISTRY_HTTP_ADDR": ":" + port,
        "REGISTRY_HTTP_DEBUG_ADDR": REGISTRY_VARS["registry_debug_addr"],
        "REGISTRY_HEALTH_STORAGEDRIVER_ENABLED": "true", "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_HTTP_SECRET": secrets.token_urlsafe(24),
    }, volumes={**stack.secret_file("htpasswd", htpasswd, uid),
                data.name: {"bind": "/var/lib/registry", "mode": "rw"}})
    ui = stack.run_image(REGISTRY_IMAGES["registry-ui"], "registry-ui", net, aliases=["registry-ui"], env={
        "REGISTRY_URL": "http://registry:%s" % port, "REGISTRY_USERNAME": REGISTRY_USER,
        "REGISTRY_PASSWORD_FILE": "/run/secrets/registry_password", "REGISTRY_PULL_HOST": "127.0.0.1:5001",
        "UI_USERNAME": "admin", "UI_PASSWORD_FILE": "/run/secrets/ui_password",
        "UI_SECRET_KEY_FILE": "/run/secrets/ui_secret_key", "UI_TITLE": "faulttest",
    }, volumes={**stack.secret_file("registry_password", REGISTRY_PASSWORD, uid),
                **stack.secret_file("ui_password", secrets.token_urlsafe(18), uid),
                **stack.secret_file("ui_secret_key", secrets.token_hex(32), uid)}, mem_limit="192m")
    config = Path(stack.secrets_dir) / "registry-proxy.cfg"
    config.write_text(registry_proxy_config())
    config.chmod(0o644)
    proxy = _start_proxy(engine, stack, net, config, REGISTRY_PORTS.values(), "registry-proxy")
    for container in (registry, ui, proxy):
        harness.wait_healthy(container, timeout=90)
    return {sname: ("http://127.0.0.1:%d" % REGISTRY_PORTS[sname], body["proxy"])
            for sname, body in REGISTRY_STACK["services"].items()}


def _normal(url, app, auth=None):
    """(seconds, response) of the app's normal request. The registry's is the one every Docker client sends
    first (GET /v2/ without credentials, answered 401 with the auth challenge); with auth=True its
    credentialed retry (200), whose time is mostly the htpasswd entry's bcrypt cost, not the connection's."""
    if auth is None:
        auth = app == "student_api"
    credentials = {"student_api": (harness.API_USER, harness.API_PASSWORD),
                   "registry": (REGISTRY_USER, REGISTRY_PASSWORD)}.get(app) if auth else None
    path = {"student_api": harness.COLLECTION, "registry": "/v2/", "registry-ui": "/login"}.get(app, "/")
    start = time.monotonic()
    response = harness.http("GET", url + path, auth=credentials, timeout=5)
    return time.monotonic() - start, response


def _answered(response, app, auth=None):
    expected = 401 if app == "registry" and not auth else 200
    return response is not None and response.status_code == expected


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


def _slow_clients_do_not_starve(url, port, app, close_within, figures, what):
    _normal(url, app)  # warm: the proxy has resolved the app, the app has started its workers
    quiet = statistics.median(_normal(url, app)[0] for _ in range(5))
    opened = time.monotonic()
    socks = _open_slow(port)
    try:
        time.sleep(0.5)
        timings = []
        for _ in range(SAMPLES):
            seconds, response = _normal(url, app)
            assert _answered(response, app), (app, response)
            timings.append(seconds)
        median = statistics.median(timings)
        p99 = statistics.quantiles(timings, n=100, method="inclusive")[98]
        figures.note("slow clients, %s: %d idle + %d half-header open, normal request (%d) median %.1f ms, "
                     "p99 %.1f ms, max %.1f ms (median %.1f ms with none open)"
                     % (what, SLOW, SLOW, SAMPLES, median * 1000, p99 * 1000, max(timings) * 1000, quiet * 1000))
        assert median < FAST_LIMIT, "%s: %.0f ms with %d slow connections open" % (app, median * 1000, 2 * SLOW)
        if app == "registry":
            signed = [_normal(url, app, auth=True) for _ in range(5)]
            assert all(_answered(response, app, auth=True) for _, response in signed), signed
            figures.note("slow clients, %s: the credentialed GET /v2/ (200) median %.1f ms (bcrypt cost %s)"
                         % (what, statistics.median(t for t, _ in signed) * 1000,
                            REGISTRY_DEFAULTS["registry_htpasswd_rounds"]))
        deadline = opened + close_within + 5
        still_open = [s for s in socks if not _closed_by_peer(s, deadline)]
        closed_after = time.monotonic() - opened
        figures.note("slow clients, %s: %d/%d closed by the proxy within %.1f s (bound %.0f s + 5)"
                     % (what, len(socks) - len(still_open), len(socks), closed_after, close_within))
        assert not still_open, "%d slow connections still open after %.1f s" % (len(still_open), closed_after)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("app", sorted(PORTS))
def test_slow_clients_do_not_starve_the_app(proxied, app, figures):
    urls, _ = proxied
    _slow_clients_do_not_starve(urls[app], PORTS[app], app, HEADER_TIMEOUT, figures, "%s behind the proxy" % app)


@pytest.mark.parametrize("service", sorted(REGISTRY_PORTS))
def test_slow_clients_do_not_starve_the_registry_stack(registry_proxied, service, figures):
    """Registry UI (8081 when deployed, `proxy: http`) and registry (5001, `proxy: tcp`)."""
    url, mode = registry_proxied[service]
    # http: a header not complete within http_request_timeout is answered 408 and closed; tcp: the proxy
    # sees bytes, not requests, and closes a connection idle for client_timeout.
    bound = HEADER_TIMEOUT if mode == "http" else CLIENT_TIMEOUT
    _slow_clients_do_not_starve(url, REGISTRY_PORTS[service], service, bound, figures,
                                "%s behind the registry stack's proxy (%s)" % (service, mode))


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
        network = next(n for n in stack.networks if n.name == harness.PREFIX + "proxied")
        new, _ = stack.run("api_backend", "p-api-backend", network, publish=False)
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
