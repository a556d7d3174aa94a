"""playbooks/prechecks.yml end to end, in --check: the stack declarations and an inventory with problems
(a port a real python process holds, a bind address that is not an IP, a host outside docker_hosts, a stacks
directory without the space asked for, a registry that does not answer) fail the run with one line each,
and nothing is changed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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
