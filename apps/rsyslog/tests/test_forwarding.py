"""labs/rsyslog with several Docker hosts: a host's collector writes its lines and forwards them over TCP to the
central one (LOGS_FORWARD_TO), which files them under the same <stack>/<service>/<day>.log with the sender's
host name. Two containers of the image built from this directory, hardened as the stack runs them."""

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
IMAGE = "labs/rsyslog:pytest"
HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "10001:10001",
            "--tmpfs", "/tmp", "--tmpfs", "/var/spool/rsyslog:uid=10001,gid=10001",
            "--tmpfs", "/var/log/labs:uid=10001,gid=10001,mode=0750"]


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def image():
    if not shutil.which("docker") or docker("image", "inspect", "labs/debian:bookworm", check=False).returncode:
        pytest.skip("needs Docker and the base image labs/debian:bookworm (make base-images)")
    docker("build", "-q", "-t", IMAGE, "--build-arg", "BASE_IMAGE=labs/debian:bookworm", str(APP_DIR))
    return IMAGE


@pytest.fixture
def network():
    name = "rsyslog-test-" + uuid.uuid4().hex[:8]
    docker("network", "create", name)
    started = []
    yield name, started
    for container in started:
        docker("rm", "-f", container, check=False)
    docker("network", "rm", name, check=False)


def run(network, started, image, name, *extra):
    started.append(name)
    docker("run", "-d", "--name", name, "--hostname", name, "--network", network, *HARDENED, *extra, image)


def read(container, path):
    proc = docker("exec", container, "bash", "-c", "cat " + path + " 2>/dev/null", check=False)
    return proc.stdout


def test_a_host_forwards_its_lines_to_the_central_collector(image, network):
    net, started = network
    central, agent = net + "-central", net + "-agent"
    run(net, started, image, central)
    run(net, started, image, agent, "-e", "LOGS_FORWARD_TO=%s:5515" % central)
    # What Docker's syslog driver sends (rfc5424micro, tag <stack>/<container>), from the agent's host.
    line = "<30>1 2026-12-04T10:00:00.123456Z docker-host-2 student/student-api 7 student/student-api - ping %s"
    marker = uuid.uuid4().hex
    deadline = time.time() + 30
    central_text = ""
    while time.time() < deadline and marker not in central_text:
        docker("exec", agent, "bash", "-c", "echo '%s' > /dev/udp/127.0.0.1/5514" % (line % marker), check=False)
        time.sleep(1)
        central_text = read(central, "/var/log/labs/student/student-api/2026-12-04.log")
    assert "2026-12-04T10:00:00.123456+00:00 [docker-host-2] ping " + marker in central_text, central_text
    # The agent keeps its own copy (lines survive a central outage there too), without the host prefix.
    assert "2026-12-04T10:00:00.123456+00:00 ping " + marker in read(agent, "/var/log/labs/student/student-api/*.log")
    # The central collector forwards nothing (no LOGS_FORWARD_TO) and files nothing unsorted.
    assert read(central, "/var/log/labs/unsorted.log") == ""


def test_a_bad_forward_address_is_refused(image):
    proc = docker("run", "--rm", *HARDENED, "-e", "LOGS_FORWARD_TO=central;rm -rf /:5515", image, "check", check=False)
    assert proc.returncode == 2 and "is not host:port" in proc.stderr
    proc = docker("run", "--rm", *HARDENED, "-e", "LOGS_FORWARD_TO=10.42.1.5:5515", image, "check", check=False)
    assert proc.returncode == 0 and 'target="10.42.1.5" port="5515" protocol="tcp"' in proc.stdout, proc.stderr
