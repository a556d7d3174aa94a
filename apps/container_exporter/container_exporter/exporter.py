"""Prometheus exporter of the project's containers, read from the Docker Engine API.

Why code: Debian packages no cAdvisor, and node exporter knows nothing of
containers; the engine API (Docker SDK) plus prometheus_client is the smallest
way to get per-container figures with the deployment's stack/service labels.

A poller thread samples every container carrying ``label`` (running or not)
every ``interval`` seconds: inspect, and for a running one a stats sample
(``stream=false``, about a second each, hence a few in parallel). A scrape
only reads the last poll, so it answers at once whatever the engine's speed.
The figures are those of ``docker stats`` (labs_stats, the same file as
module_utils/labs_stats.py). An events thread counts OOM kills, which the
inspect data forget at the next start.

A removed container leaves no trace in the engine, so the declared services
come from the deployments themselves: roles/compose_stack writes, on every up
(waiting for health or not), <stacks dir>/<stack>/services.json (JSON,
world-readable: {"stack", "services": [the long-running services]}). The
compose.yaml next to it would do too, but it is root-only (mode 0600) and YAML,
which the image cannot parse. A declared service without a container, in a stack that is
still deployed (a container or network of it exists: `docker compose down`
removes them all, `docker rm -f` only the container), is exported as not
running (labs_container_running 0, labs_container_missing 1), so ServiceDown
fires for it as for a stopped one.
"""

import glob
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from labs_stats import stats_metrics  # module_utils/labs_stats.py, staged into the image (SHARED)
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger("container_exporter")

STACK_LABEL = "io.devops-labs.stack"
SERVICE_LABEL = "com.docker.compose.service"
ONESHOT_LABEL = "io.devops-labs.oneshot"
ONEOFF_LABEL = "com.docker.compose.oneoff"
HEALTH_STATES = ("healthy", "unhealthy", "starting", "none")
LABELS = ["stack", "service", "container"]
DECLARED_FILE = "services.json"


def declared_services(stacks_dir):
    """{stack: [service, ...]}: the long-running services each stack declares.

    Read from <stacks_dir>/<stack>/services.json ({"stack", "services": [...]}); a stack without the file, or
    with an unreadable one, declares nothing.
    """
    declared = {}
    if not stacks_dir:
        return declared
    for path in sorted(glob.glob(os.path.join(glob.escape(stacks_dir), "*", DECLARED_FILE))):
        try:
            with open(path, encoding="utf-8") as handle:
                services = json.load(handle)["services"]
            if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
                raise ValueError("services is not a list of names")
            declared[os.path.basename(os.path.dirname(path))] = sorted(services)
        except (OSError, ValueError, LookupError, TypeError) as exc:
            log.warning("cannot read the declared services in %s: %s", path, exc)
    return declared


def missing_records(declared, records, deployed_stacks):
    """Records of the declared services that have no container, in the stacks still deployed."""
    present = {(r["stack"], r["service"]) for r in records}
    return [dict(stack=stack, service=service, container=service, oneshot="false", published=[], running=False,
                 restarting=False, oom_killed=False, exit_code=0, missing=True, metrics=None)
            for stack, services in sorted(declared.items()) if stack in deployed_stacks
            for service in services if (stack, service) not in present]


def identity(inspect):
    """(stack, service, container, oneshot) of a container from its inspect dict."""
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    name = (inspect.get("Name") or "").lstrip("/")
    oneshot = labels.get(ONESHOT_LABEL) == "true" or labels.get(ONEOFF_LABEL, "").lower() == "true"
    return (labels.get(STACK_LABEL, ""), labels.get(SERVICE_LABEL, name), name, "true" if oneshot else "false")


def container_record(inspect, sample):
    """What the exporter keeps of one container: its identity, state and labs_stats' numbers."""
    state = inspect.get("State") or {}
    stack, service, name, oneshot = identity(inspect)
    published = sorted({(b.get("HostIp") or "", b.get("HostPort") or "", port.split("/")[0])
                        for port, bindings in ((inspect.get("NetworkSettings") or {}).get("Ports") or {}).items()
                        if port.endswith("/tcp") for b in bindings or [] if b.get("HostPort")})
    return dict(
        stack=stack, service=service, container=name, oneshot=oneshot, published=published,
        running=bool(state.get("Running")) and not state.get("Restarting"),
        restarting=bool(state.get("Restarting")),
        oom_killed=bool(state.get("OOMKilled")),
        exit_code=int(state.get("ExitCode") or 0),
        metrics=stats_metrics(sample, inspect),
    )


def families(records, oom_kills, last_poll, poll_errors):
    """The metric families of one poll (pure, for the unit tests)."""
    def gauge(name, doc, extra=()):
        return GaugeMetricFamily(name, doc, labels=LABELS + list(extra))

    running = gauge("labs_container_running", "1 when the container runs (not restarting), else 0.", ["oneshot"])
    restarting = gauge("labs_container_restarting", "1 while the engine is restarting the container.")
    health = gauge("labs_container_health", "Health status of the container (1 for the current one).", ["status"])
    restarts = gauge("labs_container_restart_count", "Restarts of the container by its policy (RestartCount).")
    oom_killed = gauge("labs_container_oom_killed", "1 when the container's last exit was an OOM kill.")
    exit_code = gauge("labs_container_exit_code", "Exit code of the container's last run.", ["oneshot"])
    cpu = gauge("labs_container_cpu_percent", "CPU use as docker stats prints it (100 = one CPU busy).")
    cpu_limit = gauge("labs_container_cpu_limit_cpus", "CPUs the container may use (0: no limit).")
    memory = gauge("labs_container_memory_bytes", "Memory used without the inactive page cache.")
    memory_limit = gauge("labs_container_memory_limit_bytes", "Memory limit (the host's memory without one).")
    pids = gauge("labs_container_pids", "Processes and threads in the container.")
    published = gauge("labs_container_published_port", "1 per TCP port the container publishes on the host.",
                      ["host_ip", "host_port", "container_port"])
    missing = gauge("labs_container_missing",
                    "1 when a service of a deployed stack (its services.json) has no container (removed).")
    for rec in records:
        ids = [rec["stack"], rec["service"], rec["container"]]
        m = rec["metrics"]
        running.add_metric(ids + [rec["oneshot"]], 1.0 if rec["running"] else 0.0)
        missing.add_metric(ids, 1.0 if rec.get("missing") else 0.0)
        if rec.get("missing"):
            continue
        exit_code.add_metric(ids + [rec["oneshot"]], float(rec["exit_code"]))
        restarting.add_metric(ids, 1.0 if rec["restarting"] else 0.0)
        for host_ip, host_port, container_port in rec.get("published", ()):
            published.add_metric(ids + [host_ip, host_port, container_port], 1.0)
        status = m["health_status"] or "none"
        for candidate in HEALTH_STATES:
            health.add_metric(ids + [candidate], 1.0 if candidate == status else 0.0)
        restarts.add_metric(ids, float(m["restart_count"]))
        oom_killed.add_metric(ids, 1.0 if rec["oom_killed"] else 0.0)
        cpu_limit.add_metric(ids, float(m["cpu_limit"]))
        memory_limit.add_metric(ids, float(m["memory_limit_bytes"]))
        if m["sampled"]:
            cpu.add_metric(ids, float(m["cpu_percent"]))
            memory.add_metric(ids, float(m["memory_bytes"]))
            pids.add_metric(ids, float(m["pids"]))
    ooms = CounterMetricFamily("labs_container_oom_kills", "OOM kills seen in the engine's events since the exporter started.",
                               labels=LABELS)
    for ids, count in sorted(oom_kills.items()):
        ooms.add_metric(list(ids), float(count))
    poll = GaugeMetricFamily("labs_exporter_last_poll_timestamp_seconds", "End of the last successful poll.")
    poll.add_metric([], last_poll)
    errors = CounterMetricFamily("labs_exporter_poll_errors", "Polls of the engine that failed.")
    errors.add_metric([], float(poll_errors))
    return [running, missing, restarting, health, restarts, oom_killed, exit_code, cpu, cpu_limit, memory,
            memory_limit, pids, published, ooms, poll, errors]


class Exporter:
    """The poller, the OOM events watcher and the Prometheus collector over their results."""

    def __init__(self, client, label, interval, stacks_dir=""):
        self.client, self.label, self.interval, self.stacks_dir = client, label, interval, stacks_dir
        self.records, self.oom_kills = [], {}
        self.last_poll, self.poll_errors = 0.0, 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=4)

    def _sample(self, container_id):
        inspect = self.client.api.inspect_container(container_id)
        running = (inspect.get("State") or {}).get("Running")
        sample = self.client.api.stats(container_id, stream=False) if running else None
        return container_record(inspect, sample)

    def poll(self):
        try:
            ids = [c["Id"] for c in self.client.api.containers(all=True, filters={"label": self.label})]
            records = []
            for future in [self.pool.submit(self._sample, cid) for cid in ids]:
                try:
                    records.append(future.result())
                except Exception as exc:  # a container removed between the list and its inspect
                    log.debug("skipped a container: %s", exc)
            # The stacks still deployed: Compose removes a project's networks with its containers on down.
            deployed = {((n.get("Labels") or {}).get(STACK_LABEL)) for n in
                        self.client.api.networks(filters={"label": self.label})}
            deployed |= {r["stack"] for r in records}
            records += missing_records(declared_services(self.stacks_dir), records, deployed)
            records.sort(key=lambda r: (r["stack"], r["service"], r["container"]))
            with self.lock:
                self.records, self.last_poll = records, time.time()
        except Exception as exc:
            with self.lock:
                self.poll_errors += 1
            log.warning("poll of the engine failed: %s", exc)

    def poll_forever(self):
        while True:
            started = time.monotonic()
            self.poll()
            time.sleep(max(0.5, self.interval - (time.monotonic() - started)))

    def watch_oom_events(self):
        while True:
            try:
                for event in self.client.events(decode=True, filters={"event": "oom", "label": self.label}):
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    key = (attrs.get(STACK_LABEL, ""), attrs.get(SERVICE_LABEL, attrs.get("name", "")),
                           attrs.get("name", ""))
                    with self.lock:
                        self.oom_kills[key] = self.oom_kills.get(key, 0) + 1
                    log.warning("OOM kill: stack %s, service %s, container %s", *key)
            except Exception as exc:
                log.warning("engine events stream ended: %s; reconnecting", exc)
                time.sleep(2)

    def healthy(self):
        return time.time() - self.last_poll < max(30.0, 3 * self.interval)

    def collect(self):
        with self.lock:
            records, ooms, last, errors = list(self.records), dict(self.oom_kills), self.last_poll, self.poll_errors
        return families(records, ooms, last, errors)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # scrapes every few seconds: not worth a log line each
        pass


def wsgi_app(exporter, registry):
    metrics = make_wsgi_app(registry)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            ok = exporter.healthy()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"no successful poll of the engine lately\n"]
        if path == "/metrics":
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"see /metrics\n"]
    return app


def serve(port, label, interval, docker_host, stacks_dir=""):
    import docker  # the SDK; imported here so the unit tests of the pure parts need no engine

    client = docker.DockerClient(base_url=docker_host, timeout=30)
    exporter = Exporter(client, label, interval, stacks_dir)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    exporter.poll()
    threading.Thread(target=exporter.poll_forever, name="poller", daemon=True).start()
    threading.Thread(target=exporter.watch_oom_events, name="oom-events", daemon=True).start()
    log.info("exporting the containers labelled %s from %s on :%d every %gs (declared services: %s)", label,
             docker_host, port, interval, stacks_dir or "none")
    make_server("0.0.0.0", port, wsgi_app(exporter, registry), server_class=_ThreadingServer,
                handler_class=_QuietHandler).serve_forever()
    return 0
