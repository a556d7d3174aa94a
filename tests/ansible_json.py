"""Run the venv's ansible-playbook with the project's configuration and Ansible's JSON callback, and read
its report by task. One place for what tests/test_docker_engine_*.py, test_ec2_provision.py and
test_stack_override.py need (imported by name: tests/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def ansible_env(**extra: str) -> dict:
    """The environment `make` gives Ansible (config, roles, collections, library), JSON output."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_HOME=str(ROOT / ".ansible"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LIBRARY=str(ROOT / "library"),
        ANSIBLE_MODULE_UTILS=str(ROOT / "module_utils"),
        ANSIBLE_LOCAL_TEMP=str(ROOT / ".ansible" / "tmp"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    env.update(extra)
    return env


def run_ansible(args: list[str], *, env: dict | None = None, cwd: Path = ROOT, timeout: int = 600,
                check: bool = True) -> subprocess.CompletedProcess:
    """Run args[0] (ansible-playbook, ansible-inventory...) from the venv; with check, fail on a non-zero exit."""
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          env=env or ansible_env(), cwd=cwd, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    return proc


def run_playbook(playbook: Path, *options: str, extra_vars: dict | None = None, inventory: str = "localhost,",
                 check: bool = True, timeout: int = 600) -> tuple[int, dict]:
    """ansible-playbook on this interpreter's Python; (exit code, JSON report)."""
    variables = {"ansible_python_interpreter": sys.executable, **(extra_vars or {})}
    proc = run_ansible(["ansible-playbook", "-i", inventory, "-e", json.dumps(variables), *options, str(playbook)],
                       timeout=timeout, check=check)
    return proc.returncode, json.loads(proc.stdout)


def by_task(report: dict) -> dict:
    """{task name without its 'role : ' prefix: {host: result}}; a name seen twice keeps its last run."""
    found: dict = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            found.setdefault(task["task"]["name"].split(" : ", 1)[-1], {}).update(task["hosts"])
    return found
