"""Unit tests of library/container_recovery.py.

The Docker engine is a fake (test_labs_docker.FakeDocker) whose container
"crashes" when the crash URL of a real local HTTP server is requested (or
when its host PID is signalled) and comes back after a few polls, like
Docker's restart policy does. The last tests (marker ``docker``) run the
module against a real container when an engine is reachable.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker.errors
import pytest

import container_recovery
from ansible.module_utils import labs_docker

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import FakeServer, Reply, run_module  # noqa: E402
from test_labs_docker import FakeDocker, load_inspect  # noqa: E402

NAME = "labs-crashy"


class CrashingDocker(FakeDocker):
    """After ``crash()`` the container is seen ``down_polls`` times exited/restarting,
    then running again with RestartCount + 1 and a new PID (if ``restarts``)."""

    def __init__(self, inspect, down_polls=2, restarts=True, **kwargs):
        super().__init__([inspect], **kwargs)
        self.down_polls = down_polls
        self.restarts = restarts
        self.pending = None
        self.crashes = 0

    def crash(self):
        self.crashes += 1
        self.pending = self.down_polls
        state = self.inspects[0]["State"]
        state.update(Status="exited", Running=False, Pid=0, ExitCode=3)

    def inspect(self, key):
        container = self.find(key)
        if self.pending is not None:
            if self.pending > 0 or not self.restarts:
                self.pending -= 1
                container["State"].update(Status="restarting", Restarting=True)
            else:
                self.pending = None
                container["RestartCount"] += 1
                container["State"].update(Status="running", Running=True, Restarting=False,
                                          Pid=container["State"]["Pid"] + 100, ExitCode=0)
        return super().inspect(key)


class App:
    """The containerised application, seen from outside: /traceback kills it
    mid-request (the server drops the connection), /health answers 503
    ``unhealthy_answers`` times after a crash, then 200."""

    def __init__(self, docker, unhealthy_answers=1, crash_reply=None):
        self.docker = docker
        self.unhealthy_left = 0
        self.unhealthy_answers = unhealthy_answers
        self.crash_reply = crash_reply
        self.server = FakeServer(self.handle)

    def handle(self, request):
        if request.path == "/traceback":
            if self.crash_reply is not None:  # the app caught the error: no crash
                return self.crash_reply
            self.docker.crash()
            self.unhealthy_left = self.unhealthy_answers
            raise ConnectionResetError("process died mid-request")
        if request.path == "/health":
            if self.unhealthy_left > 0:
                self.unhealthy_left -= 1
                return Reply(503, "starting")
            return Reply(200, {"status": "ok"})
        return Reply(404, "not found")

    def __enter__(self):
        self.server.__enter__()
        self.url = self.server.url
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(container_recovery, "POLL_DELAY", 0.01)


def use(monkeypatch, fake):
    hosts = []

    def get_client(docker_host):
        hosts.append(docker_host)
        return fake

    monkeypatch.setattr(container_recovery, "get_client", get_client)
    return hosts


def crashy(**changes):
    inspect = load_inspect("crashy")
    inspect.update(changes)
    return inspect


PID1 = (0, b"sh\0-c\0trap 'exit 3' USR1; httpd -f -p 8000 & wait\0")


# --- crash through a URL ---------------------------------------------------

def test_crash_url_restart_pid1_and_health(monkeypatch):
    fake = CrashingDocker(crashy(), down_polls=3, exec_result=PID1)
    hosts = use(monkeypatch, fake)
    with App(fake, unhealthy_answers=2) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", expected_pid1="httpd -f",
            health_url=app.url + "/health", timeout=10))
        health_requests = [r for r in app.server.requests if r.path == "/health"]
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert fake.crashes == 1
    assert result["restart_count_before"] == 1
    assert result["restart_count_after"] == 2
    assert result["pid1_cmdline"] == "sh -c trap 'exit 3' USR1; httpd -f -p 8000 & wait"
    assert result["health_status"] == 200
    assert len(health_requests) == 3  # 503, 503, 200
    assert "no HTTP answer (expected when the process dies mid-request)" in result["crash"]
    assert 0 <= result["restart_seconds"] <= result["recovery_seconds"] < 10
    assert hosts == ["unix:///var/run/docker.sock"]


def test_crash_url_uses_the_given_method_and_docker_host(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    hosts = use(monkeypatch, fake)
    with App(fake) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", crash_method="POST",
            docker_host="tcp://127.0.0.1:2375", timeout=5))
        methods = [r.method for r in app.server.requests if r.path == "/traceback"]
    assert not result.get("failed"), result
    assert methods == ["POST"]
    assert hosts == ["tcp://127.0.0.1:2375"]
    assert result["health_status"] is None  # no health_url: no HTTP check


def test_app_that_survives_the_crash_url_times_out_with_the_answer(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake, crash_reply=Reply(500, "Internal Server Error")) as app:
        start = time.monotonic()
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", timeout=0.5))
        took = time.monotonic() - start
    assert result["failed"]
    assert "was not restarted within 0.5s" in result["msg"]
    assert "restart count 1 -> 1" in result["msg"]
    assert "HTTP 500" in result["msg"]
    assert result["restart_count_after"] == 1
    assert took < 5


def test_container_that_stays_down_times_out(monkeypatch):
    fake = CrashingDocker(crashy(), restarts=False, exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", timeout=0.4))
    assert result["failed"]
    assert "state restarting" in result["msg"] and "restart policy on-failure" in result["msg"]


def test_wrong_pid1_fails_with_what_was_found(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", expected_pid1="gunicorn", timeout=0.5))
    assert result["failed"]
    assert "not the expected 'gunicorn'" in result["msg"]
    assert result["pid1_cmdline"].startswith("sh -c trap")
    assert result["restart_count_after"] == 2  # it did restart


def test_unhealthy_app_fails_with_last_status(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake, unhealthy_answers=10 ** 6) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", health_url=app.url + "/health",
            timeout=0.5))
    assert result["failed"]
    assert "did not answer HTTP 200" in result["msg"] and "(last: HTTP 503)" in result["msg"]


def test_health_status_option_is_the_status_waited_for(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake, unhealthy_answers=10 ** 6) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback", health_url=app.url + "/health",
            health_status=503, timeout=5))
    assert not result.get("failed"), result
    assert result["health_status"] == 503


# --- refusals before anything is crashed ------------------------------------

def test_check_mode_refuses_and_crashes_nothing(monkeypatch):
    fake = CrashingDocker(crashy(), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake) as app:
        result = run_module(container_recovery, dict(
            name=NAME, crash_url=app.url + "/traceback"), check_mode=True)
        assert app.server.requests == []
    assert result["failed"]
    assert "cannot run in check mode" in result["msg"]
    assert fake.crashes == 0


@pytest.mark.parametrize("changes, message", [
    (dict(HostConfig=dict(load_inspect("crashy")["HostConfig"],
                          RestartPolicy={"Name": "no", "MaximumRetryCount": 0})),
     "has restart policy 'no'"),
    (dict(State=dict(load_inspect("crashy")["State"], Status="exited", Running=False, Pid=0)),
     "is not running (state: exited)"),
])
def test_refuses_containers_docker_would_not_restart(monkeypatch, changes, message):
    fake = CrashingDocker(crashy(**changes), exec_result=PID1)
    use(monkeypatch, fake)
    with App(fake) as app:
        result = run_module(container_recovery, dict(name=NAME, crash_url=app.url + "/traceback"))
        assert app.server.requests == []
    assert result["failed"]
    assert message in result["msg"]


def test_missing_container(monkeypatch):
    use(monkeypatch, FakeDocker())
    result = run_module(container_recovery, dict(name="nope", signal="KILL"))
    assert result["failed"]
    assert "no container named 'nope'" in result["msg"]


def test_unreachable_engine_is_a_clear_failure(tmp_path):
    result = run_module(container_recovery, dict(
        name=NAME, signal="KILL", docker_host="unix://%s/docker.sock" % tmp_path))
    assert result["failed"]
    assert "cannot reach the Docker engine" in result["msg"]


@pytest.mark.parametrize("args, message", [
    (dict(name=NAME), "one of the following is required: crash_url, signal"),
    (dict(name=NAME, signal="KILL", crash_url="http://127.0.0.1:1/x"), "mutually exclusive"),
    (dict(name=NAME, signal="SIGNOPE"), "unknown signal 'SIGNOPE'"),
    (dict(name=NAME, signal="KILL", timeout=0), "timeout must be greater than 0"),
])
def test_bad_arguments(monkeypatch, args, message):
    fake = CrashingDocker(crashy())
    use(monkeypatch, fake)
    result = run_module(container_recovery, args)
    assert result["failed"]
    assert message in result["msg"]
    assert fake.crashes == 0


# --- crash through a signal ------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("SIGKILL", signal.SIGKILL), ("kill", signal.SIGKILL), ("9", signal.SIGKILL),
    ("SIGTERM", signal.SIGTERM), ("segv", signal.SIGSEGV),
])
def test_parse_signal(text, expected):
    assert container_recovery.parse_signal(text) is expected


def fake_proc(tmp_path, pid, cgroup):
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_text(cgroup)


def test_host_pid_is_checked_against_the_container_cgroup(monkeypatch, tmp_path):
    inspect = crashy()
    pid, cid = inspect["State"]["Pid"], inspect["Id"]
    monkeypatch.setattr(container_recovery, "PROC", str(tmp_path))
    with pytest.raises(container_recovery.RecoveryError, match="needs the module to run on the Docker host"):
        container_recovery.host_pid_of(inspect)  # no such process here
    fake_proc(tmp_path, pid, "0::/user.slice/user-1000.slice/session-2.scope\n")
    with pytest.raises(container_recovery.RecoveryError, match="is not a process of container"):
        container_recovery.host_pid_of(inspect)  # same PID number, another process
    (tmp_path / str(pid) / "cgroup").write_text(
        "0::/system.slice/docker-%s.scope\n" % cid)  # systemd cgroup driver
    assert container_recovery.host_pid_of(inspect) == pid


def test_signal_is_sent_to_the_host_pid_and_recovery_measured(monkeypatch, tmp_path):
    inspect = crashy()
    pid = inspect["State"]["Pid"]
    fake_proc(tmp_path, pid, "4:memory:/docker/%s\n0::/docker/%s\n" % (inspect["Id"], inspect["Id"]))
    monkeypatch.setattr(container_recovery, "PROC", str(tmp_path))
    fake = CrashingDocker(inspect, exec_result=PID1)
    use(monkeypatch, fake)
    kills = []

    def kill(target, signum):
        kills.append((target, signum))
        fake.crash()

    monkeypatch.setattr(container_recovery.os, "kill", kill)
    result = run_module(container_recovery, dict(name=NAME, signal="SIGKILL", expected_pid1="httpd"))
    assert not result.get("failed"), result
    assert kills == [(pid, signal.SIGKILL)]
    assert result["crash"] == "SIGKILL sent to host PID %d" % pid
    assert result["restart_count_after"] == result["restart_count_before"] + 1


def test_signal_permission_error_is_reported(monkeypatch, tmp_path):
    inspect = crashy()
    fake_proc(tmp_path, inspect["State"]["Pid"], "0::/docker/%s\n" % inspect["Id"])
    monkeypatch.setattr(container_recovery, "PROC", str(tmp_path))
    use(monkeypatch, CrashingDocker(inspect))

    def kill(target, signum):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(container_recovery.os, "kill", kill)
    result = run_module(container_recovery, dict(name=NAME, signal="TERM"))
    assert result["failed"]
    assert "cannot send SIGTERM to host PID" in result["msg"]
    assert "Operation not permitted" in result["msg"]


# --- against a real engine ---------------------------------------------------

IMAGE_REPO, IMAGE_TAG = "labs-unit-test/busybox", "1"
IMAGE = "%s:%s" % (IMAGE_REPO, IMAGE_TAG)
APP = r"""mkdir -p /tmp/www/cgi-bin
echo ok > /tmp/www/health
printf '#!/bin/sh\nkill -USR1 1\nprintf "Content-Type: text/plain\\r\\n\\r\\nbye\\n"\n' > /tmp/www/cgi-bin/crash
chmod +x /tmp/www/cgi-bin/crash
trap 'exit 3' USR1
httpd -f -p 8000 -h /tmp/www &
wait
"""


def _busybox_rootfs(busybox):
    """A tar of a root file system made of one busybox binary and its applets."""
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory, mode in (("bin", 0o755), ("etc", 0o755), ("proc", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo("bin/" + applet)
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        passwd = b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


@pytest.fixture(scope="module")
def engine():
    try:
        client = labs_docker.get_client(os.environ.get("DOCKER_HOST") or labs_docker.DEFAULT_DOCKER_HOST,
                                        timeout=30)
    except labs_docker.DockerAccessError as exc:
        pytest.skip("no Docker engine reachable: %s" % exc)
    created = False
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        busybox = os.environ.get("LABS_TEST_BUSYBOX") or shutil.which("busybox")
        if not busybox:
            pytest.skip("no test image %s and no busybox to build it from: install a static "
                        "busybox (apt-get install busybox-static) or set LABS_TEST_BUSYBOX" % IMAGE)
        try:
            rootfs = _busybox_rootfs(busybox)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip("cannot list the applets of %s: %s" % (busybox, exc))
        client.api.import_image_from_data(rootfs, repository=IMAGE_REPO,
                                          tag=IMAGE_TAG, changes=['CMD ["/bin/sh"]'])
        created = True
        probe = client.containers.create(IMAGE, ["true"])
        try:
            probe.start()
            assert probe.wait(timeout=30)["StatusCode"] == 0
        except Exception as exc:
            probe.remove(force=True)
            client.images.remove(IMAGE, force=True)
            pytest.skip("%s is not a static busybox, the test image cannot run: %s" % (busybox, exc))
        probe.remove(force=True)
    yield client
    if created:
        client.images.remove(IMAGE, force=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def crashy_container(engine):
    # A fixed host port: a port Docker picks itself may change at each restart.
    port = free_port()
    container = engine.containers.run(
        IMAGE, ["sh", "-c", APP], detach=True, name="labs-recovery-test-%s" % uuid.uuid4().hex[:8],
        restart_policy={"Name": "on-failure"}, ports={"8000/tcp": ("127.0.0.1", port)},
        labels={"com.example.project": "devops-labs-unit-test"})
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 10
        while True:
            try:
                if container_recovery.request(url + "/health", timeout=1).status == 200:
                    break
            except container_recovery.HttpError:
                pass
            assert time.monotonic() < deadline, "test app did not start"
            time.sleep(0.1)
        yield container.name, url
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_real_container_recovers_from_crash_url_then_sigkill(crashy_container):
    name, url = crashy_container
    first = run_module(container_recovery, dict(
        name=name, crash_url=url + "/cgi-bin/crash", expected_pid1="httpd",
        health_url=url + "/health", timeout=30))
    assert not first.get("failed"), first
    assert (first["restart_count_before"], first["restart_count_after"]) == (0, 1)
    assert first["health_status"] == 200
    assert "trap 'exit 3' USR1" in first["pid1_cmdline"]
    assert 0 < first["restart_seconds"] <= first["recovery_seconds"] < 30

    # Quick second restart: Docker's restart backoff applies, the module waits for it.
    second = run_module(container_recovery, dict(
        name=name, signal="SIGKILL", expected_pid1="httpd", health_url=url + "/health", timeout=30))
    assert not second.get("failed"), second
    assert (second["restart_count_before"], second["restart_count_after"]) == (1, 2)
    assert second["crash"].startswith("SIGKILL sent to host PID ")
    assert second["health_status"] == 200
