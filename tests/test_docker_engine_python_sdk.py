"""docker_engine installs the Docker SDK for Python that community.docker's and the project's modules import on
the managed host (a fresh cloud image has none), and only when dpkg says a package of it is missing.

The task runs in check mode on this machine (local connection) for stand-in hosts that differ only in what dpkg
reported (tests/inventory/docker_engine_python_sdk.yml); molecule/ec2 runs it for real on bare stand-ins.
"""

from pathlib import Path

import pytest
from ansible_json import by_task, run_playbook

ROOT = Path(__file__).resolve().parents[1]
TASK = "Install the Docker SDK for Python"


@pytest.fixture(scope="module")
def results() -> dict:
    """The SDK task's result by stand-in host."""
    _, report = run_playbook(ROOT / "tests" / "playbooks" / "docker_engine_python_sdk.yml", "--check",
                             inventory=str(ROOT / "tests" / "inventory" / "docker_engine_python_sdk.yml"))
    found = {}
    for name, hosts in by_task(report).items():
        if name.startswith(TASK):
            found.update(hosts)
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
