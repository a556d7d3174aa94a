#!/usr/bin/env python3
"""Slow clients and redeploys, with and without the stacks' proxy (issue 15, items 2 and 4).

Throwaway containers only (tests/faults/faults_harness.py: hardened like compose_stack, named faulttest-*,
removed at the end), host ports 127.0.0.1:18210-18219; the project's running stacks are not touched.

1. p99 of a normal request while 50 idle + 50 half-header connections are open, for each app server
   (gunicorn gthread: student API; Apache prefork: website; waitress: API backend), published directly
   (as before the proxy) and behind labs/proxy with the configuration roles/compose_stack renders.
   Target: < 100 ms behind the proxy.
2. Failed requests while the backend's container is recreated (stop, remove, create, start: what
   `docker compose up` does to a changed service) under 16 closed-loop clients (scripts/http_load.py),
   direct and behind the proxy, median of --runs. Target: 0 behind the proxy. molecule/registry measures the
   same through the real pipeline (its third run's deploy).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from common import ROOT, progress, write_section

sys.path.insert(0, str(ROOT / "tests" / "faults"))
import faults_harness as harness  # noqa: E402

import docker  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "compose_stack_filter", ROOT / "roles" / "compose_stack" / "filter_plugins" / "compose_stack.py")
flt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flt)
PROXY = yaml.safe_load((ROOT / "roles" / "compose_stack" / "defaults" / "main.yml").read_text())["compose_stack_proxy"]
APPS = ["student_api", "website", "api_backend"]
DIRECT = {"student_api": 18210, "website": 18211, "api_backend": 18212}
PROXIED = {"student_api": 18213, "website": 18214, "api_backend": 18215}
TARGET_MS = 100.0
# A normal request that waits longer counts as failed (and as this long in the percentiles).
REQUEST_TIMEOUT = 5.0
# Published directly, a starved server makes every sample wait REQUEST_TIMEOUT: fewer samples there.
DIRECT_SAMPLES = 10


def normal_request(url, app, timeout=10):
    auth = (harness.API_USER, harness.API_PASSWORD) if app == "student_api" else None
    path = harness.COLLECTION if app == "student_api" else "/"
    start = time.monotonic()
    response = harness.http("GET", url + path, auth=auth, timeout=timeout)
    return (time.monotonic() - start) * 1000, response is not None and response.status_code == 200


def p99_with_slow_clients(port, app, samples):
    socks = []
    for i in range(100):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    try:
        time.sleep(0.5)
        timings, failed = [], 0
        for _ in range(samples):
            ms, ok = normal_request("http://127.0.0.1:%d" % port, app, timeout=REQUEST_TIMEOUT)
            timings.append(ms)
            failed += not ok
        timings.sort()
        return timings[min(len(timings) - 1, int(0.99 * len(timings)))], statistics.median(timings), failed
    finally:
        for sock in socks:
            sock.close()


def start(stack, net, app, name, host_port=None):
    """The app hardened like compose_stack (tests/faults/faults_harness.py), published on host_port or not at all."""
    publish = host_port is not None
    if app == "student_api":
        return stack.student_api(name, net, publish=publish, host_port=host_port)[0]
    env = {}
    volumes = None
    if app == "website":
        env = {"API_URL": "http://%sstudent-api:5000" % harness.PREFIX,
               "USERNAME_FILE": "/run/secrets/api_username", "PASSWORD_FILE": "/run/secrets/api_password"}
        volumes = stack.secret_mounts()
    return stack.run(app, name, net, env=env, volumes=volumes, publish=publish, host_port=host_port)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="normal requests per app and setup")
    parser.add_argument("--runs", type=int, default=3, help="recreates under load per setup")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the containers when stopped
    client = docker.from_env()
    stack = harness.Stack(client)
    try:
        net = stack.network("bench-edge")
        # Each app twice: published directly (as before the proxy), and reached only through the proxy.
        direct, proxied = {}, {}
        for app in APPS:
            name = "student-api" if app == "student_api" else app.replace("_", "-")
            proxied[app] = start(stack, net, app, name)
        for app in APPS:
            direct[app] = start(stack, net, app, "direct-" + app, host_port=DIRECT[app])
        routes = [{"name": app, "mode": "http", "port": str(PROXIED[app]), "service": proxied[app].name,
                   "target": str(harness.PORTS[app])} for app in APPS]
        config = Path(stack.secrets_dir) / "proxy.cfg"
        config.write_text(flt.proxy_config("bench", routes, PROXY))
        config.chmod(0o644)
        proxy = client.containers.create(
            "labs/proxy:latest", name=harness.PREFIX + "proxy", detach=True, labels=harness.LABELS, read_only=True,
            tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            restart_policy={"Name": "always"}, mem_limit="64m", nano_cpus=500_000_000,
            ports={"%d/tcp" % p: ("127.0.0.1", p) for p in PROXIED.values()},
            volumes={str(config): {"bind": "/etc/haproxy/haproxy.cfg", "mode": "ro"}}, network=net.name)
        stack.containers.append(proxy)
        proxy.start()
        for container in list(proxied.values()) + list(direct.values()):
            harness.wait_healthy(container, timeout=120)
        time.sleep(2)

        rows = []
        for app in APPS:
            for setup, port in (("direct", DIRECT[app]), ("proxy", PROXIED[app])):
                normal_request("http://127.0.0.1:%d" % port, app)
                samples = args.samples if setup == "proxy" else min(args.samples, DIRECT_SAMPLES)
                p99, med, failed = p99_with_slow_clients(port, app, samples)
                progress("%s %s: p99 %.1f ms, median %.1f ms, %d failed" % (app, setup, p99, med, failed))
                rows.append((app, setup, p99, med, failed, samples))

        redeploys = []
        for setup, port in (("direct", DIRECT["api_backend"]), ("proxy", PROXIED["api_backend"])):
            failures = []
            for run in range(args.runs):
                stop_file = Path(stack.secrets_dir) / ("stop-%s-%d" % (setup, run))
                load = subprocess.Popen(
                    [sys.executable, str(ROOT / "scripts" / "http_load.py"), "--concurrency", "16",
                     "--stop-file", str(stop_file), "--max-seconds", "120", "http://127.0.0.1:%d/" % port],
                    stdout=subprocess.PIPE, text=True)
                time.sleep(1.5)
                old = direct["api_backend"] if setup == "direct" else proxied["api_backend"]
                began = time.monotonic()
                old.stop(timeout=10)
                stack.remove(old)
                if setup == "direct":
                    new = direct["api_backend"] = start(stack, net, "api_backend", "direct-api_backend", port)
                else:
                    new = proxied["api_backend"] = start(stack, net, "api_backend", "api-backend")
                harness.wait_healthy(new, timeout=60)
                took = time.monotonic() - began
                time.sleep(1.5)
                stop_file.touch()
                report = json.loads(load.communicate(timeout=60)[0])
                failures.append(report["failed"])
                progress("recreate %s %d: %.1f s, %d requests, %d failed %s" % (
                    setup, run + 1, took, report["requests"], report["failed"], report["failures"]))
                redeploys.append((setup, run, took, report))
                time.sleep(3)
    finally:
        errors = stack.cleanup()
        if errors:
            progress("clean-up left: %s" % errors)

    lines = ["### A normal request with 50 idle + 50 half-header connections open", "",
             "| app server | published | p99 (ms) | median (ms) | failed | target | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for app, setup, p99, med, failed, samples in rows:
        verdict = "" if setup == "direct" else ("met" if p99 < TARGET_MS and not failed
                                                else "missed by %.0f ms" % (p99 - TARGET_MS))
        lines.append("| %s | %s | %.1f | %.1f | %d/%d | %s | %s |" % (
            app, "directly" if setup == "direct" else "through labs/proxy", p99, med, failed, samples,
            "< 100 ms" if setup == "proxy" else "", verdict))
    lines += ["", "Sequential normal requests while the slow connections are held (a failed one waited %.0f s "
              "without an answer, or got no 200); published directly, %d of them. The student API runs 2 gthread "
              "workers here (the fault tests' setting; the stack runs 1)." % (REQUEST_TIMEOUT, DIRECT_SAMPLES), "",
              "### Failed requests while the backend's container is recreated, 16 clients", "",
              "| published | run | recreate (s) | requests | failed | failures |", "| --- | --- | --- | --- | --- | --- |"]
    for setup, run, took, report in redeploys:
        lines.append("| %s | %d | %.1f | %d | %d | %s |" % (
            "directly" if setup == "direct" else "through labs/proxy", run + 1, took, report["requests"],
            report["failed"], report["failures"] or ""))
    proxied_failed = [r["failed"] for s, _, _, r in redeploys if s == "proxy"]
    lines += ["", "Target: 0 failed behind the proxy; median %s (%s)." % (
        statistics.median(proxied_failed), "met" if max(proxied_failed) == 0 else "missed")]
    print(write_section("edge", "\n".join(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
