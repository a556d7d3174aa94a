"""host_prechecks: each check made to fail for real (a bound socket, a full file system, a registry that is
not there, a Compose outside the range), and the message checked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

import host_prechecks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeServer, Reply, run_module  # noqa: E402
from throwaway import throwaway_container  # noqa: E402


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def listener():
    """A real process named python listening on a free 127.0.0.1 port (not this test process, so the name
    comes from /proc as for any other program)."""
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import socket, sys, time
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", %d)); s.listen(); print("ok", flush=True); time.sleep(60)
    """ % port)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ok"
    yield port, child.pid
    child.kill()
    child.wait()


def test_a_port_another_process_listens_on_names_the_process_and_the_fix(listener):
    port, pid = listener
    result = run_module(host_prechecks, {"ports": [{
        "published": "127.0.0.1:%d:8080" % port, "stack": "student", "service": "student-website",
        "variable": "student_app_stack.services.student-website.ports"}]})
    assert result["failed"]
    [problem] = result["problems"]
    assert problem.startswith("port 127.0.0.1:%d (stack student, service student-website) is taken: " % port)
    assert "python" in problem and "(pid %d)" % pid in problem
    assert problem.endswith("stop it, or change student_app_stack.services.student-website.ports")
    assert result["listeners"][0]["process"].startswith("python")


def test_a_wildcard_publish_collides_with_a_loopback_listener(listener):
    port, _pid = listener
    result = run_module(host_prechecks, {"ports": [{"published": "%d:80" % port}], "fail_on_problems": False})
    assert not result.get("failed")
    assert len(result["problems"]) == 1 and "is taken" in result["problems"][0]


def test_a_free_port_is_no_problem_and_check_mode_runs_the_checks(listener):
    free = _free_port()
    result = run_module(host_prechecks, {"ports": [{"published": "127.0.0.1:%d:80" % free}]}, check_mode=True)
    assert result["problems"] == [] and not result["changed"]
    port, _pid = listener
    result = run_module(host_prechecks, {"ports": [{"published": "127.0.0.1:%d:80" % port}]}, check_mode=True)
    assert result["failed"] and "is taken" in result["problems"][0]


@pytest.mark.parametrize("published, expected", [
    ("127.0.0.1:70000:80", "published port '70000' of '127.0.0.1:70000:80' (stack s, service a) is not a port number in 1-65535: change s_port"),
    ("127.0.0.1:0:80", "is not a port number in 1-65535"),
    ("localhost:8080:80", "bind address 'localhost' of 'localhost:8080:80' (stack s, service a) is not an IP address: change s_port"),
    ("127.0.0:8080:80", "is not an IP address"),
])
def test_inventory_values_the_argument_specs_cannot_express(published, expected):
    result = run_module(host_prechecks, {"ports": [
        {"published": published, "stack": "s", "service": "a", "variable": "s_port"}]})
    assert result["failed"]
    assert expected in result["problems"][0]


def test_two_services_on_the_same_port_are_one_problem():
    port = _free_port()
    result = run_module(host_prechecks, {"ports": [
        {"published": "127.0.0.1:%d:80" % port, "stack": "a", "service": "one"},
        {"published": "0.0.0.0:%d:80" % port, "stack": "b", "service": "two", "variable": "b_port"}]})
    assert result["problems"] == [
        "port 0.0.0.0:%d (stack b, service two) is also published by '127.0.0.1:%d:80' (stack a, service one): "
        "give one of them another port (change b_port)" % (port, port)]


def test_parse_published_forms():
    assert host_prechecks.parse_published("127.0.0.1:8080:80/tcp") == ("127.0.0.1", "8080")
    assert host_prechecks.parse_published("8080:80") == ("0.0.0.0", "8080")
    assert host_prechecks.parse_published("[::1]:8080:80") == ("::1", "8080")
    assert host_prechecks.parse_published("80") == (None, None)


def test_disk_below_the_need_names_path_figures_and_variable(tmp_path):
    stat = os.statvfs(tmp_path)
    free = stat.f_bavail * stat.f_frsize
    result = run_module(host_prechecks, {"disk": [{
        "path": str(tmp_path / "not" / "yet"), "min_free": str(free * 4 + 2 ** 40),
        "what": "the stacks' directory", "variable": "prechecks_stacks_dir_min_free"}]})
    assert result["failed"]
    [problem] = result["problems"]
    assert problem.startswith("disk: %s (the stacks' directory) has " % (tmp_path / "not" / "yet"))
    assert "(file system of %s)" % tmp_path in problem
    assert problem.endswith("or lower prechecks_stacks_dir_min_free")
    ok = run_module(host_prechecks, {"disk": [{"path": str(tmp_path), "min_free": "1K"}]})
    assert ok["problems"] == []


@pytest.fixture()
def tiny_tmpfs():
    if os.geteuid() != 0:
        pytest.fail("the tmpfs test mounts a file system: run the tests as root (as CI does)")
    path = tempfile.mkdtemp(prefix="prechecks-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], check=True)
    yield path
    subprocess.run(["umount", path], check=True)
    os.rmdir(path)


def test_a_real_tiny_tmpfs_is_too_small(tiny_tmpfs):
    result = run_module(host_prechecks, {"disk": [{"path": tiny_tmpfs, "min_free": "2M", "variable": "x_min_free"}]})
    assert result["failed"]
    assert "disk: %s has 1.00 MB free (file system of %s), the run needs 2.00 MB" % (tiny_tmpfs, tiny_tmpfs) \
        in result["problems"][0]
    assert run_module(host_prechecks, {"disk": [{"path": tiny_tmpfs, "min_free": "512K"}]})["problems"] == []


def test_a_registry_that_does_not_answer():
    port = _free_port()
    result = run_module(host_prechecks, {"registry_url": "http://127.0.0.1:%d" % port,
                                         "registry_username": "labs", "registry_password": "x"})
    assert result["failed"]
    [problem] = result["problems"]
    assert problem.startswith("registry http://127.0.0.1:%d does not answer from this host" % port)
    assert "Connection refused" in problem and "playbooks/registry.yml" in problem


def _registry(request):
    return Reply(200 if request.auth == ("labs", "good") else 401)


def test_a_registry_refusing_the_credentials():
    with FakeServer(_registry) as server:
        bad = run_module(host_prechecks, {"registry_url": server.url, "registry_username": "labs",
                                          "registry_password": "bad"})
        good = run_module(host_prechecks, {"registry_url": server.url, "registry_username": "labs",
                                           "registry_password": "good"})
    assert bad["failed"] and "refuses the credentials of labs (HTTP 401)" in bad["problems"][0]
    assert good["problems"] == []


def _fake_docker(tmp_path, monkeypatch, engine, compose):
    """A docker command that answers like the real one: docker version, docker compose version, docker info."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        case "$1 $2" in
          "version --format") echo '%s' ;;
          "compose version") echo '%s' ;;
          "info --format") echo '%s' ;;
          *) exit 1 ;;
        esac
    """ % (engine, compose, tmp_path)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))


def test_a_compose_outside_the_range(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch, "20.10.24", "2.10.2")
    result = run_module(host_prechecks, {"docker_min_version": "20.10.0", "compose_min_version": "2.18.0",
                                         "compose_max_version": "3.0.0"})
    assert result["failed"]
    assert result["problems"] == [
        "Compose 2.10.2 is outside the range this project is tested with (>= 2.18.0, < 3.0.0): install one in "
        "range (docker_engine_compose_apt_version, playbooks/docker.yml) or change docker_engine_compose_min_version"]


def test_an_engine_too_old(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch, "19.03.1", "2.26.1")
    result = run_module(host_prechecks, {"docker_min_version": "20.10.0", "compose_min_version": "2.18.0"})
    assert result["problems"] == [
        "Docker Engine 19.03.1 is older than 20.10.0, the oldest this project runs on: upgrade it "
        "(playbooks/docker.yml, docker_engine_source) or lower prechecks_docker_min_version"]
    assert result["compose_version"] == "2.26.1"


def test_an_engine_that_does_not_answer(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch, "", "2.26.1")
    result = run_module(host_prechecks, {"docker_min_version": "20.10.0", "compose_min_version": "2.18.0"})
    assert result["failed"] and result["problems"][0].startswith("Docker Engine does not answer")


def test_the_data_root_docker_reports_is_measured(tmp_path, monkeypatch):
    _fake_docker(tmp_path, monkeypatch, "20.10.24", "2.26.1")
    result = run_module(host_prechecks, {"docker_data_root_min_free": "100T"})
    assert result["failed"]
    assert result["problems"][0].startswith("disk: %s (Docker's data root: images, volumes) has " % tmp_path)
    assert result["problems"][0].endswith("or lower docker_data_root_min_free")


def test_no_docker_yet_is_a_note_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_module(host_prechecks, {"docker_min_version": "20.10.0", "compose_min_version": "2.18.0",
                                         "docker_data_root_min_free": "5G",
                                         "docker_host": "unix://%s/docker.sock" % tmp_path})
    assert not result.get("failed") and result["problems"] == []
    assert result["notes"] == ["Docker is not installed on this host yet: engine and Compose versions and its data "
                               "root not checked (site.yml installs Docker first)"]



@pytest.mark.docker
def test_a_port_the_project_holds_is_fine_for_its_stack_and_named_for_another():
    """Against the engine of this machine: a port docker-proxy holds for a project container."""
    from ansible.module_utils import labs_docker

    try:
        client = labs_docker.get_client()
    except labs_docker.DockerAccessError as exc:
        pytest.skip("no Docker engine answers: %s" % exc)
    # A container of the project publishing a port: a stack's, after make up; else a throwaway one labelled as a
    # stack's (CI runs no stack).
    held = _project_ports(labs_docker, client)
    if held:
        _check_project_port(held[0])
        return
    with throwaway_container(["io.devops-labs.project=devops-labs", "io.devops-labs.stack=prechecks-test"],
                             "-p", "127.0.0.1:%d:80" % _free_port()):
        _check_project_port(_project_ports(labs_docker, client)[0])


def _project_ports(labs_docker, client):
    """[(inspect, (container port, host IP, host port))] of the project's containers that publish a port."""
    # The project's own containers only: other tests' containers (tests/faults) carry the label with another value.
    project = labs_docker.list_containers(client, label="io.devops-labs.project=devops-labs")
    return [(inspect, binding) for inspect in project for binding in labs_docker.published_ports(inspect) if binding[2]]


def _check_project_port(held):
    inspect, (_cport, host_ip, host_port) = held
    stack = inspect["Config"]["Labels"].get("io.devops-labs.stack") or ""
    published = "%s:%s:80" % (host_ip, host_port)
    mine = run_module(host_prechecks, {"ports": [{"published": published, "stack": stack}]})
    assert mine["problems"] == [] and mine["listeners"][0]["project"] is True
    other = run_module(host_prechecks, {"ports": [{"published": published, "stack": "another"}]})
    assert other["failed"]
    assert "container %s of the project's stack %s, through docker-proxy" % (inspect["Name"].lstrip("/"), stack) \
        in other["problems"][0]


def test_bound_addresses_reads_docker_port_ranges():
    # One container publishing consecutive ports (a stack's proxy: 8000 and 8001) is listed as a range.
    ports = "127.0.0.1:8000-8001->8000-8001/tcp, 0.0.0.0:9000->9000/tcp, :::9000->9000/tcp"
    assert host_prechecks.bound_addresses(ports, 8001) == ["127.0.0.1"]
    assert host_prechecks.bound_addresses(ports, 8000) == ["127.0.0.1"]
    assert host_prechecks.bound_addresses(ports, 9000) == ["0.0.0.0", "::"]
    assert host_prechecks.bound_addresses(ports, 8002) == []
