"""docker_engine's Compose v2 package on each distro path, as far as it can run on this Debian 12 machine.

Ubuntu's docker-compose-v2 and Debian 13 cannot be installed here, so stand-in hosts (this machine, local
connection) carry the facts of each distribution/release (tests/inventory/docker_engine_compose.yml) and
the role's Compose source and distro tasks run in check mode: nothing changes here, and we read which package
apt was asked for and whether the pinned Debian 13 source would be added. Debian 12 runs for real in
molecule/docker_engine and on the CI machine.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "tests" / "playbooks"
SOURCE_TASK = "Add Debian 13's archive as an apt source for docker-compose (deb822)"
PIN_TASK = "Pin Debian 13 so that only docker-compose comes from it"
REMOVE_TASK = "Remove the Debian 13 source and pin where they are not wanted"
INSTALL_TASK = "Install the distribution's Compose v2"
PENDING_TASK = "Say what check mode cannot show yet"


@pytest.fixture(scope="module")
def results() -> dict:
    """Task results by stand-in host, then by task name (without the 'role : ' prefix)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LOCAL_TEMP=str(ROOT / ".ansible" / "tmp"),
    )
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "--check", "--diff",
         "-i", str(ROOT / "tests" / "inventory" / "docker_engine_compose.yml"),
         "-e", json.dumps({"ansible_python_interpreter": sys.executable}),
         str(PLAYBOOKS / "docker_engine_compose.yml")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_host: dict = {}
    for play in json.loads(proc.stdout)["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"].split(" : ", 1)[-1]
            for host, result in task["hosts"].items():
                by_host.setdefault(host, {})[name] = result
    return by_host


def asked_for(host_results: dict) -> str:
    """The Compose package spec apt was asked for (or, when the new trixie source is only pending in check
    mode, the one the role says it would install)."""
    report = host_results["Report the Compose selection"]["msg"]
    install = host_results[INSTALL_TASK]
    if not install.get("skipped"):
        name = install["invocation"]["module_args"]["name"]
        assert (name if isinstance(name, list) else [name]) == [report["spec"]]
    else:
        assert report["spec"] in host_results[PENDING_TASK]["msg"]
    return report["spec"]


@pytest.mark.parametrize("host", ["ubuntu_noble"])
def test_ubuntu_installs_docker_compose_v2(results, host):
    tasks = results[host]
    assert asked_for(tasks) == "docker-compose-v2=2.*"
    # Not in this Debian machine's lists: apt refuses, which shows the name it was given.
    assert "No package matching 'docker-compose-v2'" in tasks[INSTALL_TASK]["msg"]
    assert tasks[SOURCE_TASK].get("skipped") and tasks[PIN_TASK].get("skipped")
    assert not tasks[REMOVE_TASK].get("skipped")


def test_debian_13_installs_its_own_docker_compose(results):
    tasks = results["debian_trixie"]
    assert asked_for(tasks) == "docker-compose=2.*"
    assert tasks["Report the Compose selection"]["msg"]["trixie_wanted"] is False
    assert tasks[SOURCE_TASK].get("skipped") and tasks[PIN_TASK].get("skipped")


def test_debian_12_takes_docker_compose_from_debian_13_pinned(results):
    tasks = results["debian_bookworm"]
    assert asked_for(tasks) == "docker-compose=2.*"
    assert tasks["Report the Compose selection"]["msg"]["trixie_wanted"] is True
    source = tasks[SOURCE_TASK]
    assert source["invocation"]["module_args"]["uris"] == ["http://deb.debian.org/debian"]
    assert source["invocation"]["module_args"]["suites"] == ["trixie"]
    assert source["invocation"]["module_args"]["signed_by"] == "/usr/share/keyrings/debian-archive-keyring.gpg"
    pin = tasks[PIN_TASK]
    assert pin["dest"] == "/etc/apt/preferences.d/docker-engine-compose-trixie.pref"
    assert tasks[REMOVE_TASK].get("skipped")


def test_debian_12_without_the_trixie_source_removes_it(results):
    tasks = results["debian_bookworm_no_trixie"]
    # Still Compose v2 only: without a source that has it, apt fails rather than installing Compose v1.
    assert asked_for(tasks) == "docker-compose=2.*"
    assert tasks["Report the Compose selection"]["msg"]["trixie_wanted"] is False
    assert tasks[SOURCE_TASK].get("skipped")
    removed = [r["path"] for r in tasks[REMOVE_TASK]["results"]]
    assert removed == ["/etc/apt/sources.list.d/docker-engine-compose-trixie.sources",
                       "/etc/apt/preferences.d/docker-engine-compose-trixie.pref"]
