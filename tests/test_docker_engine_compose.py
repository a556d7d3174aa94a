"""docker_engine's Compose v2 package on each distro path, as far as it can run on this Debian 12 machine.

Ubuntu's docker-compose-v2 and Debian 13 cannot be installed here, so stand-in hosts (this machine, local
connection) carry the facts of each distribution/release (tests/inventory/docker_engine_compose.yml) and
the role's Compose source and distro tasks run in check mode: nothing changes here, and we read which package
apt was asked for and whether the pinned Debian 13 source would be added. Debian 12 runs for real in
molecule/docker_engine and on the CI machine.
"""

from pathlib import Path

import pytest
from ansible_json import by_task, run_playbook

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
    _, report = run_playbook(PLAYBOOKS / "docker_engine_compose.yml", "--check", "--diff",
                             inventory=str(ROOT / "tests" / "inventory" / "docker_engine_compose.yml"))
    by_host: dict = {}
    for name, hosts in by_task(report).items():
        for host, result in hosts.items():
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
