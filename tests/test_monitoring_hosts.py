"""One monitoring deployment for several Docker hosts (roles/monitoring, inventory group monitoring): rendered
for a three-host inventory, the monitoring host runs the whole stack and its Prometheus scrapes every other
host's exporter at its address inside the deployment; every other host runs the agent (exporter published
there, log collector forwarding to the monitoring host). Nothing is applied."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ETL, STUDENT, API = "devops-labs-etl-i-0aa", "devops-labs-student-i-0bb", "devops-labs-api_pair-i-0cc"


@pytest.fixture(scope="module")
def rendered():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               ANSIBLE_FILTER_PLUGINS=str(ROOT / "roles" / "monitoring" / "filter_plugins"),
               ANSIBLE_LOCAL_TEMP=str(ROOT / ".ansible" / "tmp"))
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")),
                           "-i", str(ROOT / "tests" / "inventory" / "monitoring_hosts.yml"),
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable}),
                           str(ROOT / "tests" / "playbooks" / "monitoring_hosts.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    shown = json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]
    return {host: result["msg"] for host, result in shown.items()}


def test_the_monitoring_host_scrapes_every_hosts_exporter(rendered):
    assert [h for h, r in rendered.items() if r["central"]] == [ETL]
    exporters = [g for g in rendered[ETL]["targets"] if g["labels"]["job"] == "containers"]
    assert exporters == [
        {"targets": ["monitoring-exporter:9417"], "labels": {"job": "containers", "host": ETL}},
        {"targets": ["10.42.1.20:9417"], "labels": {"job": "containers", "host": STUDENT, "address": "203.0.113.20"}},
        {"targets": ["10.42.1.30:9417"], "labels": {"job": "containers", "host": API, "address": "203.0.113.30"}},
    ]
    services = rendered[ETL]["services"]
    assert {"monitoring-prometheus", "monitoring-alertmanager", "monitoring-dashboard", "monitoring-webhook",
            "monitoring-exporter", "monitoring-logs"} <= set(services)
    # The central collector takes the agents' lines on TCP 5515, and forwards nowhere.
    assert "127.0.0.1:5515:5515/tcp" in services["monitoring-logs"]["ports"]
    assert "LOGS_FORWARD_TO" not in services["monitoring-logs"]["environment"]
    assert "ports" not in services["monitoring-exporter"] or not services["monitoring-exporter"]["ports"]


def test_the_monitoring_host_scrapes_the_apps_of_the_other_hosts_where_they_are_published(rendered):
    # The student API runs on the student host: its /metrics is scraped at that host's address and published
    # port (the central Prometheus cannot join a network of another host); no other host runs an app target.
    remote = [g for g in rendered[ETL]["targets"] if g["labels"].get("host") in (STUDENT, API)
              and g["labels"]["job"] != "containers"]
    assert remote == [{"targets": ["10.42.1.20:5000"],
                       "labels": {"job": "student_api", "host": STUDENT, "address": "203.0.113.20"}}]


@pytest.mark.parametrize("host, address", [(STUDENT, "10.42.1.20"), (API, "10.42.1.30")])
def test_every_other_host_runs_the_agent_forwarding_its_logs(rendered, host, address):
    agent = rendered[host]
    assert not agent["central"]
    services = agent["services"]
    assert set(services) == {"monitoring-exporter", "monitoring-logs"}
    assert services["monitoring-exporter"]["ports"] == ["%s:9417:9417" % address]
    logs = services["monitoring-logs"]
    assert logs["environment"]["LOGS_FORWARD_TO"] == "10.42.1.10:5515"
    assert logs["ports"] == ["127.0.0.1:5514:5514/udp"]
    # Hardened like every other container (roles/compose_stack's defaults).
    for service in services.values():
        assert service["cap_drop"] == ["ALL"] and service["read_only"] is True
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["restart"] == "always" and service["mem_limit"] and service["cpus"]
    # The exporter: non-root in the socket's group, the socket and the stacks dir read-only.
    assert services["monitoring-exporter"]["user"].startswith("10001:")
    assert {v.split(":", 1)[1] for v in services["monitoring-exporter"]["volumes"]} == {
        "/var/run/docker.sock:ro", "/stacks:ro"}
