"""Machinery shared by the fault tests.

Containers are started from the project's local images with the Docker SDK,
hardened the way roles/compose_stack runs every service (read-only root file
system, tmpfs /tmp, cap_drop ALL, no-new-privileges, restart always,
memory/CPU/PID limits, credentials as read-only files, ports published on
127.0.0.1 on free ports). One difference: the images' own health probe runs
every second instead of every 5 s, so that waiting for ``healthy`` takes
seconds. Everything is named ``faulttest-<run id>-...``, labelled
``io.devops-labs.test=faults`` (not the project label, so the audit and
rotation playbooks never see it) and removed at the end.

Traffic goes only to 127.0.0.1 (the published ports); every loop has a
bound in count and a deadline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter

import requests

RUN_ID = uuid.uuid4().hex[:6]
PREFIX = "faulttest-%s-" % RUN_ID
LABELS = {"io.devops-labs.test": "faults", "io.devops-labs.project": "devops-labs-faulttest",
          "io.devops-labs.faulttest-run": RUN_ID}
# FAULTS_IMAGE_<APP>=labs/<app>:<tag> tries a candidate image (a branch's
# throwaway build) without touching the shared :latest tags.
IMAGES = {app: os.environ.get("FAULTS_IMAGE_" + app.upper(), "labs/%s:latest" % app)
          for app in ("student_api", "website", "api_backend", "api_frontend")}
PORTS = {"student_api": 5000, "website": 8080, "api_backend": 8001, "api_frontend": 8000}
API_USER = "faulttest"
API_PASSWORD = secrets.token_urlsafe(18)
COLLECTION = "/supmit/api/v1.0/get_student_ages"
APP_UID = 10001  # the images' non-root user
HEALTH_INTERVAL_NS = 1_000_000_000
REQUEST_TIMEOUT = 10.0


# ------------------------------------------------------------------ figures
class Figures:
    """What the fault tests did, printed at the end of the session."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()
        self.statuses = Counter()
        self.recoveries = []  # (what, seconds)
        self.notes = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def response(self, status):
        with self.lock:
            self.counts["requests"] += 1
            self.statuses[status] += 1
            if status >= 500:
                self.counts["http_5xx"] += 1

    def no_answer(self):
        with self.lock:
            self.counts["requests"] += 1
            self.counts["requests_without_answer"] += 1

    def recovered(self, what, seconds):
        with self.lock:
            self.counts["faults_survived"] += 1
            self.recoveries.append((what, round(seconds, 2)))

    def note(self, text):
        with self.lock:
            self.notes.append(text)

    def as_dict(self):
        return dict(counts=dict(self.counts), statuses={str(k): v for k, v in sorted(self.statuses.items())},
                    recoveries=self.recoveries, notes=self.notes)

    def lines(self):
        c = self.counts
        lines = [
            "faults injected: %d, survived: %d" % (c["faults_injected"], c["faults_survived"]),
            "HTTP requests tried: %d (answered %d, no answer %d: connections cut by the faults)"
            % (c["requests"], c["requests"] - c["requests_without_answer"], c["requests_without_answer"]),
            "5xx answers: %d" % c["http_5xx"],
            "writes acknowledged (2xx): %d, lost after faults: %d" % (c["writes_acknowledged"], c["writes_lost"]),
            "bad-input examples sent: %d" % c["bad_input_examples"],
            "status codes: %s" % ", ".join("%s x%d" % (k, v) for k, v in sorted(self.statuses.items())),
        ]
        if self.recoveries:
            lines.append("recoveries (s, fault -> healthy): " + ", ".join(
                "%s %.2f" % r for r in self.recoveries))
        lines.extend(self.notes)
        return lines


FIGURES = Figures()


def http(method, url, figures=FIGURES, **kwargs):
    """One HTTP request to 127.0.0.1, counted; None when no answer came."""
    assert url.startswith("http://127.0.0.1:"), url  # the network rules: loopback only
    kwargs.setdefault("timeout", REQUEST_TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment, ever
        try:
            response = session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
            # The server did not answer (refused, reset, cut mid-answer, too slow). A request
            # the client refuses to send (requests.InvalidHeader...) is a test bug: it raises.
            figures.no_answer()
            return None
    figures.response(response.status_code)
    return response


# ------------------------------------------------------------------ docker
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout, what, interval=0.2):
    """Call check() until it returns a true value, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            value, last = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %ss (last error: %r)" % (what, timeout, last))
        time.sleep(interval)


class Stack:
    """The containers, networks, volumes and credential files one test session made."""

    def __init__(self, client):
        self.client = client
        self.containers, self.networks, self.volumes = [], [], []
        self.secrets_dir = tempfile.mkdtemp(prefix=PREFIX)
        os.chmod(self.secrets_dir, 0o755)  # traversable by the containers' user
        for name, value in (("api_username", API_USER), ("api_password", API_PASSWORD)):
            path = os.path.join(self.secrets_dir, name)
            with open(path, "w") as handle:
                handle.write(value)
            os.chown(path, APP_UID, APP_UID)
            os.chmod(path, 0o400)

    def network(self, name):
        network = self.client.networks.create(PREFIX + name, labels=LABELS)
        self.networks.append(network)
        return network

    def volume(self, name):
        volume = self.client.volumes.create(PREFIX + name, labels=LABELS)
        self.volumes.append(volume)
        return volume

    def secret_mounts(self):
        return {os.path.join(self.secrets_dir, n): {"bind": "/run/secrets/" + n, "mode": "ro"}
                for n in ("api_username", "api_password")}

    def run(self, app, name, network=None, env=None, volumes=None, aliases=None, publish=True, host_port=None):
        """Start ``app``'s image hardened like compose_stack; return (container, base URL).

        publish=False: no published port (reached over ``network`` only, e.g. behind a proxy; URL None).
        host_port: publish on this port of 127.0.0.1 instead of a free one."""
        port = host_port or free_port()
        container = self.run_image(IMAGES[app], name, network, env=env, volumes=volumes, aliases=aliases,
                                   ports={"%d/tcp" % PORTS[app]: ("127.0.0.1", port)} if publish else {})
        return container, ("http://127.0.0.1:%d" % port) if publish else None

    def run_image(self, image_ref, name, network=None, env=None, volumes=None, aliases=None, ports=None,
                  mem_limit="256m"):
        """Start ``image_ref`` hardened like compose_stack (its own healthcheck, every second); return it.

        aliases: names the container also answers to on ``network`` (a Compose service name)."""
        image = self.client.images.get(image_ref)
        health = dict((image.attrs.get("Config") or {}).get("Healthcheck") or {})
        healthcheck = None
        if health.get("Test"):
            healthcheck = {"test": health["Test"], "interval": HEALTH_INTERVAL_NS,
                           "timeout": health.get("Timeout") or 5_000_000_000,
                           "retries": health.get("Retries") or 3, "start_period": 2_000_000_000}
        networking = None
        if network is not None and aliases:
            networking = {network.name: self.client.api.create_endpoint_config(aliases=list(aliases))}
        container = self.client.containers.create(
            image_ref, name=PREFIX + name, detach=True, environment=env or {},
            labels=LABELS, read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], restart_policy={"Name": "always"},
            mem_limit=mem_limit, nano_cpus=1_000_000_000, pids_limit=256,
            ports=ports or {}, volumes=volumes or {}, healthcheck=healthcheck,
            network=network.name if network else None, networking_config=networking)
        self.containers.append(container)
        container.start()
        return container

    def secret_file(self, name, value, uid=APP_UID):
        """A credential file readable only by ``uid``; returns its mount at /run/secrets/<name>."""
        path = os.path.join(self.secrets_dir, name)
        with open(path, "w") as handle:
            handle.write(value)
        os.chown(path, uid, uid)
        os.chmod(path, 0o400)
        return {path: {"bind": "/run/secrets/" + name, "mode": "ro"}}

    def student_api(self, name, network=None, volume=None, publish=True, host_port=None):
        volumes = self.secret_mounts()
        if volume is not None:
            volumes[volume.name] = {"bind": "/data", "mode": "rw"}
        return self.run("student_api", name, network, env={
            "API_USERNAME_FILE": "/run/secrets/api_username",
            "API_PASSWORD_FILE": "/run/secrets/api_password",
            "GUNICORN_WORKERS": "2",
            # The bad-input tests make hundreds of deliberate wrong guesses from one
            # address; the failed-login throttle is proven by the app's unit tests.
            "AUTH_FAILURE_LIMIT": "1000000",
        }, volumes=volumes, publish=publish, host_port=host_port)

    def remove(self, container):
        container.remove(force=True)
        self.containers.remove(container)

    def cleanup(self):
        errors = []
        for container in reversed(self.containers):
            try:
                container.remove(force=True, v=False)
            except Exception as exc:  # noqa: BLE001 - remove everything else anyway
                if "No such container" not in str(exc):
                    errors.append("container %s: %s" % (container.name, exc))
        for thing in list(reversed(self.networks)) + list(reversed(self.volumes)):
            try:
                thing.remove()
            except Exception as exc:  # noqa: BLE001
                errors.append("%s: %s" % (thing.name, exc))
        shutil.rmtree(self.secrets_dir, ignore_errors=True)
        self.containers, self.networks, self.volumes = [], [], []
        return errors


def inspect(container):
    container.reload()
    return container.attrs


def health(container):
    state = inspect(container)["State"]
    return (state.get("Health") or {}).get("Status"), state


def wait_healthy(container, timeout=60):
    def healthy():
        status, state = health(container)
        if state.get("Status") in ("exited", "dead") and state.get("Restarting") is False \
                and container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no":
            raise AssertionError("container %s exited" % container.name)
        return status == "healthy" and state.get("Running") and not state.get("Restarting")
    wait_for(healthy, timeout, "%s healthy" % container.name, interval=0.2)


def host_pid(container):
    """Host PID of the container's main process, checked against its cgroup (as
    library/container_recovery.py does) so that the wrong process is never signalled."""
    attrs = inspect(container)
    pid = int(attrs["State"].get("Pid") or 0)
    with open("/proc/%d/cgroup" % pid) as handle:
        cgroups = handle.read()
    assert pid > 1 and attrs["Id"] in cgroups, "PID %s is not container %s's" % (pid, container.name)
    return pid


def sigkill_main_process(container, figures=FIGURES):
    """SIGKILL the container's PID 1 from the host (not ``docker kill``: Docker would
    then count the container as stopped by hand and not restart it)."""
    pid = host_pid(container)
    count = inspect(container)["RestartCount"]
    os.kill(pid, signal.SIGKILL)
    figures.add("faults_injected")
    return count


def wait_restarted(container, count_before, timeout=60):
    def restarted():
        attrs = inspect(container)
        state = attrs["State"]
        return attrs["RestartCount"] > count_before and state.get("Running") and not state.get("Restarting")
    wait_for(restarted, timeout, "%s restarted by Docker" % container.name)


def read_data_file(container, path="/data/student_age.json"):
    """The API's data file as the container sees it, parsed (raises on invalid JSON)."""
    code, output = container.exec_run(["cat", path], user="%d:%d" % (APP_UID, APP_UID))
    assert code == 0, "cannot read %s: %s" % (path, output)
    return json.loads(output.decode("utf-8"))
