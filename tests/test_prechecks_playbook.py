"""playbooks/prechecks.yml end to end, in --check: the stack declarations and an inventory with problems
(a port a real python process holds, a bind address that is not an IP, a host outside docker_hosts, a stacks
directory without the space asked for, a registry that does not answer) fail the run with one line each,
and nothing is changed. In auto mode (prechecks_registry: auto) a registry stack that exists (its compose.yaml
in the stacks dir) but has no running container is not checked, with a note; once a container of its Compose
project runs, it is."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible_json import by_task, run_playbook
from throwaway import throwaway_container

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

INVENTORY = """
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
  children:
    docker_hosts: {hosts: {localhost: }}
    builders: {hosts: {localhost: }}
    registry: {hosts: {localhost: }}
    student: {hosts: {localhost: }}
    api_pair: {hosts: {localhost: }}
    etl: {hosts: {localhost: }}
    secure_app: {hosts: {localhost: }}
    webserver:
      hosts:
        localhost:
        lab-web-2:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _containers():
    """The project's containers (the engine may be shared: other containers come and go)."""
    try:
        out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.devops-labs.project"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sorted(out.stdout.split()) if out.returncode == 0 else None


def test_prechecks_fail_before_any_change_with_one_line_per_problem(tmp_path):
    taken, registry_port = _free_port(), _free_port()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import socket, time
        s = socket.socket(); s.bind(("127.0.0.1", %d)); s.listen(); print("ok", flush=True); time.sleep(120)
    """ % taken)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(INVENTORY)
        stacks_dir = tmp_path / "stacks"
        before = _containers()
        started = time.monotonic()
        run = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(ROOT / "playbooks" / "prechecks.yml"), "--check",
             "-e", "webserver_port=%d" % taken, "-e", "student_app_bind_address=localhost",
             "-e", "registry_port=%d" % registry_port, "-e", "registry_hostname=127.0.0.1",
             "-e", "project_registry=127.0.0.1:%d" % registry_port, "-e", "prechecks_registry=always",
             "-e", "project_stacks_dir=%s" % stacks_dir, "-e", "project_secrets_dir=%s" % (tmp_path / "secrets"),
             "-e", "prechecks_stacks_dir_min_free=100T"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env=dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1"))
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    out = " ".join((run.stdout + run.stderr).split())  # the YAML callback folds long lines
    assert run.returncode != 0, out[-3000:]
    assert ("localhost: port 127.0.0.1:%d (stack webserver, service webserver) is taken: python" % taken) in out
    assert "(pid %d) listens on 127.0.0.1:%d; stop it, or change webserver_stack.services.webserver.ports" % (
        holder.pid, taken) in out
    assert ("localhost: bind address 'localhost' of 'localhost:8080:8080' (stack student, service student-website) "
            "is not an IP address") in out
    assert ("inventory: host lab-web-2 runs stack group webserver but is not in docker_hosts (Docker is never "
            "installed there): add it to docker_hosts or remove it from webserver") in out
    assert "localhost: disk: %s (the stacks' directory) has" % stacks_dir in out
    assert "or lower prechecks_stacks_dir_min_free" in out
    assert "localhost: registry http://127.0.0.1:%d does not answer from this host" % registry_port in out
    assert "changed=0" in out
    assert not stacks_dir.exists(), "the prechecks created the stacks directory"
    assert _containers() == before, "the prechecks changed the project's containers"
    print("prechecks playbook failed as expected in %.1f s" % elapsed)


# Only the registry stack (localhost): its two ports are the only published ones checked, so the run passes
# whatever else the shared host runs.
REGISTRY_INVENTORY = """
all:
  hosts:
    localhost:
      ansible_connection: local
  children:
    docker_hosts: {hosts: {localhost: }}
    registry: {hosts: {localhost: }}
"""
REGISTRY_PROJECT = "com.docker.compose.project=registry"  # what roles/prechecks filters the running containers on


def _running(label):
    out = subprocess.run(["docker", "ps", "-q", "--filter", "label=" + label], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _auto_prechecks(tmp_path, playbook="prechecks.yml", mode="auto"):
    """playbooks/<playbook> --check (prechecks_registry=<mode>, None: the playbook's own), the registry stack
    present in a temporary stacks dir: (exit code, {task: {host: result}}, registry port nothing listens on)."""
    registry_port = _free_port()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(REGISTRY_INVENTORY)
    stacks_dir = tmp_path / "stacks"
    (stacks_dir / "registry").mkdir(parents=True)
    (stacks_dir / "registry" / "compose.yaml").write_text("name: registry\nservices: {}\n")
    extra_vars = {"registry_port": registry_port, "registry_ui_port": _free_port(), "registry_hostname": "127.0.0.1",
                  "project_registry": "127.0.0.1:%d" % registry_port,
                  "project_stacks_dir": str(stacks_dir), "project_secrets_dir": str(tmp_path / "secrets"),
                  # not what these cases test: the shared host's disk must not decide them
                  "prechecks_docker_data_root_min_free": "1M", "prechecks_stacks_dir_min_free": "1M"}
    if mode:
        extra_vars["prechecks_registry"] = mode
    code, report = run_playbook(
        ROOT / "playbooks" / playbook, "--check", *(["--tags", "prechecks"] if playbook == "pipeline.yml" else []),
        inventory=str(inventory), check=False, timeout=300, extra_vars=extra_vars)
    assert sorted(os.listdir(stacks_dir)) == ["registry"] and os.listdir(stacks_dir / "registry") == ["compose.yaml"]
    return code, by_task(report), registry_port


def test_auto_mode_skips_a_registry_stack_that_is_down_with_a_note(tmp_path):
    if _running(REGISTRY_PROJECT):
        pytest.skip("a registry Compose project runs on this Docker engine: the stack is not down here")
    code, tasks, _ = _auto_prechecks(tmp_path)
    assert tasks["Find out whether the registry stack exists yet (its compose.yaml on the registry host)"][
        "localhost"]["stat"]["exists"]
    assert tasks["Find out whether the registry stack runs (its Compose project's running containers)"][
        "localhost"]["containers"] == []
    assert tasks["Decide whether the registry is checked"]["localhost"]["ansible_facts"][
        "prechecks_registry_checked"] is False
    notes = tasks["Say which checks were skipped, and why"]["localhost"]["msg"]
    assert "registry not checked: the registry stack is down on localhost (site.yml brings it up)" in notes
    passed = tasks["Stop before anything changes when a precheck failed"]["localhost"]
    assert code == 0 and not passed.get("failed"), passed.get("msg")


def _assert_stopped_at_the_registry(code, tasks, registry_port):
    """The registry was checked, did not answer, and the run stopped before any change."""
    assert tasks["Decide whether the registry is checked"]["localhost"]["ansible_facts"]["prechecks_registry_checked"]
    stop = tasks["Stop before anything changes when a precheck failed"]["localhost"]
    assert code != 0 and stop.get("failed")
    assert "localhost: registry http://127.0.0.1:%d does not answer from this host" % registry_port in stop["msg"]


def test_auto_mode_checks_the_registry_once_its_stack_runs(tmp_path):
    with throwaway_container([REGISTRY_PROJECT], "--network", "none", "--read-only") as container:
        code, tasks, registry_port = _auto_prechecks(tmp_path)
    running = tasks["Find out whether the registry stack runs (its Compose project's running containers)"]
    assert container[:12] in [c["Id"][:12] for c in running["localhost"]["containers"]]
    _assert_stopped_at_the_registry(code, tasks, registry_port)
    notes = tasks.get("Say which checks were skipped, and why", {}).get("localhost", {}).get("msg", [])
    assert not any("registry not checked" in note for note in notes), notes


def test_the_pipeline_stops_at_its_prechecks_when_the_registry_is_down(tmp_path):
    # The pipeline brings no registry up and pushes to it: a registry stack that is down is checked (not
    # skipped as site.yml's auto mode does) and the run stops before anything changes.
    if _running(REGISTRY_PROJECT):
        pytest.skip("a registry Compose project runs on this Docker engine: the stack is not down here")
    code, tasks, registry_port = _auto_prechecks(tmp_path, playbook="pipeline.yml", mode=None)
    _assert_stopped_at_the_registry(code, tasks, registry_port)
