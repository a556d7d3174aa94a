"""Unit tests of library/container_stats.py, on the fake Docker client of test_labs_docker.

Three containers: labs-hardened (64 MiB, 0.5 CPU, healthy, the real cgroup v1
sample), etl-prometheus (2 GiB, 1.5 CPU, a cgroup v2 sample) and labs-crashy
(no limits, restarted once, stopped: a sample without usage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import docker.errors
import pytest

import container_stats
from ansible.module_utils.labs_stats import ENTRY_KEYS, METRIC_KEYS

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import run_module  # noqa: E402
from test_labs_docker import FakeDocker, load_inspect, load_stats  # noqa: E402

LABEL = "io.devops-labs.stack=etl"


def prometheus():
    inspect = load_inspect("hardened")
    inspect.update(Name="/etl-prometheus", Id="9c1f0e3a5b7d" + "0" * 52)
    inspect["HostConfig"].update(Memory=2 * 1024 ** 3, NanoCpus=1500000000)
    return inspect


def fake_engine(monkeypatch, listed=None, **stats):
    inspects = [load_inspect("hardened"), prometheus(), load_inspect("crashy")]
    samples = {"labs-hardened": load_stats("v1"), "etl-prometheus": load_stats("v2"),
               "labs-crashy": load_stats("not_running")}
    samples.update(stats)
    fake = FakeDocker(inspects, listed=listed, stats=samples)
    hosts = []
    monkeypatch.setattr(container_stats, "get_client", lambda docker_host: hosts.append(docker_host) or fake)
    fake.hosts = hosts
    return fake


def test_names_in_the_given_order(monkeypatch):
    fake = fake_engine(monkeypatch)
    result = run_module(container_stats, dict(names=["etl-prometheus", "labs-crashy", "labs-hardened"]))
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert [e["Name"] for e in result["stats"]] == ["etl-prometheus", "labs-crashy", "labs-hardened"]
    prom, crashy, hardened = result["stats"]
    assert prom == {"Name": "etl-prometheus", "CPUPerc": "25.00%", "MemUsage": "1.5GiB / 2GiB",
                    "MemPerc": "75.00%", "NetIO": "13.3MB / 1.04MB", "BlockIO": "5.24MB / 1.5GB",
                    "PIDs": "23", "CPULimit": "1.5", "MemLimit": "2GiB"}
    assert crashy == {"Name": "labs-crashy", "CPUPerc": "n/a", "MemUsage": "n/a / 0B", "MemPerc": "n/a",
                      "NetIO": "n/a", "BlockIO": "n/a", "PIDs": "n/a", "CPULimit": "0", "MemLimit": "0B"}
    assert hardened["MemUsage"] == "1MiB / 64MiB" and hardened["CPUPerc"] == "50.65%"
    assert all(set(e) == set(ENTRY_KEYS) for e in result["stats"])
    # The numbers, in the same order, for machines.
    assert [m["name"] for m in result["metrics"]] == ["etl-prometheus", "labs-crashy", "labs-hardened"]
    assert all(set(m) == set(METRIC_KEYS) for m in result["metrics"])
    assert result["metrics"][0]["memory_bytes"] == 1610612736
    assert result["metrics"][1]["restart_count"] == 1 and result["metrics"][1]["cpu_percent"] is None
    assert result["metrics"][2]["health_status"] == "healthy"
    assert result["metrics"][2]["cpu_percent"] == pytest.approx(50.6458025)
    # One sample per container; the default engine socket.
    assert [c for c in fake.calls if c[0] == "stats"] == [
        ("stats", "etl-prometheus"), ("stats", "labs-crashy"), ("stats", "labs-hardened")]
    assert fake.hosts == ["unix:///var/run/docker.sock"]


def test_label_sorted_by_name_and_joined_with_names_once(monkeypatch):
    hardened_, prom = load_inspect("hardened"), prometheus()
    fake = fake_engine(monkeypatch, listed=[hardened_, prom])
    result = run_module(container_stats, dict(label=LABEL, names=["labs-crashy", "labs-hardened"],
                                              docker_host="unix:///run/other.sock"))
    assert not result.get("failed"), result
    assert [e["Name"] for e in result["stats"]] == ["labs-crashy", "labs-hardened", "etl-prometheus"]
    assert ("containers", False, {"label": LABEL}) in fake.calls
    assert fake.hosts == ["unix:///run/other.sock"]

    result = run_module(container_stats, dict(label=LABEL))
    assert [e["Name"] for e in result["stats"]] == ["etl-prometheus", "labs-hardened"]


def test_check_mode_reads_the_same(monkeypatch):
    fake_engine(monkeypatch)
    normal = run_module(container_stats, dict(names=["labs-hardened"]))
    checked = run_module(container_stats, dict(names=["labs-hardened"]), check_mode=True)
    assert checked["changed"] is False and checked["stats"] == normal["stats"]


def test_result_is_the_snapshot_the_report_stage_reads(monkeypatch):
    fake_engine(monkeypatch)
    result = run_module(container_stats, dict(names=["labs-hardened", "etl-prometheus"]))
    # What roles/etl_stack/tasks/stats.yml writes with to_nice_json; the report reads these columns.
    snapshot = json.loads(json.dumps(result["stats"], indent=4, sort_keys=True))
    report_columns = ("Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
    assert all(isinstance(e[c], str) for e in snapshot for c in report_columns)


def test_no_container_with_the_label_warns(monkeypatch, capfd):
    fake_engine(monkeypatch, listed=[])
    result = run_module(container_stats, dict(label=LABEL))
    assert not result.get("failed") and result["stats"] == [] and result["metrics"] == []
    # ansible-core 2.19 returns warnings in the result, or Display prints them (see test_container_audit).
    warned = json.dumps(result.get("warnings", [])) + capfd.readouterr().err
    assert "no container to read: none running with label %r" % LABEL in warned


@pytest.mark.parametrize("args, stats, message", [
    (dict(), {}, "one of the following is required: names, label"),
    (dict(names=["labs-hardened", "nope"]), {}, "no container named 'nope'"),
    (dict(names=["labs-hardened"]), {"labs-hardened": docker.errors.APIError("cgroup gone")},
     "cannot read the stats of container 'labs-hardened': cgroup gone"),
])
def test_errors(monkeypatch, args, stats, message):
    fake_engine(monkeypatch, **stats)
    result = run_module(container_stats, args)
    assert result["failed"]
    assert message in result["msg"]


def test_unreachable_engine_is_a_clear_failure(tmp_path):
    result = run_module(container_stats, dict(
        names=["x"], docker_host="unix://%s/docker.sock" % tmp_path))
    assert result["failed"]
    assert "cannot reach the Docker engine at unix://%s/docker.sock" % tmp_path in result["msg"]
