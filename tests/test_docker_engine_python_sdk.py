"""docker_engine installs the Docker SDK for Python that community.docker's and the project's modules import on
the managed host (a fresh cloud image has none), and only when dpkg says a package of it is missing.

The task runs in check mode on this machine (local connection) for stand-in hosts that differ only in what dpkg
reported (tests/inventory/docker_engine_python_sdk.yml); molecule/ec2 runs it for real on bare stand-ins.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASK = "Install the Docker SDK for Python"


@pytest.fixture(scope="module")
def results() -> dict:
    """The SDK task's result by stand-in host."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LOCAL_TEMP=str(ROOT / ".ansible" / "tmp"),
    )
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "--check",
         "-i", str(ROOT / "tests" / "inventory" / "docker_engine_python_sdk.yml"),
         "-e", json.dumps({"ansible_python_interpreter": sys.executable}),
         str(ROOT / "tests" / "playbooks" / "docker_engine_python_sdk.yml")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    found = {}
    for play in json.loads(proc.stdout)["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].split(" : ", 1)[-1].startswith(TASK):
                found.update(task["hosts"])
    return found


@pytest.mark.parametrize("host", ["fresh_cloud_image", "sdk_half_there"])
def test_missing_sdk_is_installed_from_the_distribution(results, host):
    result = results[host]
    assert not result.get("skipped"), result
    assert result["invocation"]["module_args"]["name"] == ["python3-docker", "python3-requests"]
    assert result["invocation"]["module_args"]["state"] == "present"


@pytest.mark.parametrize("host", ["sdk_installed", "sdk_from_elsewhere"])
def test_nothing_runs_when_the_sdk_is_there_or_not_wanted(results, host):
    assert results[host].get("skipped"), results[host]
