"""Unit tests of module_utils/labs_stats.py: docker stats figures from Engine API stats.

Samples (tests/unit/data/stats_*.json, see README.md there): ``v1`` is a real
cgroup v1 sample of a container run like labs-hardened (64 MiB, 0.5 CPU), with
block I/O entries added; ``v2`` has the shape Docker gives on a cgroup v2 host
(no percpu_usage, no total_* memory keys, lower-case block I/O ops);
``not_running`` is the real sample of a stopped container (no usage at all).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from ansible.module_utils import labs_stats
from ansible.module_utils.labs_stats import (
    ENTRY_KEYS,
    METRIC_KEYS,
    binary_size,
    container_stats,
    cpu_percent,
    decimal_size,
    memory_used,
)

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from test_labs_docker import load_inspect, load_stats  # noqa: E402


def prometheus_inspect():
    """labs-hardened's inspect made into a 2 GiB, 1.5 CPU container named etl-prometheus."""
    inspect = load_inspect("hardened")
    inspect["Name"] = "/etl-prometheus"
    inspect["HostConfig"].update(Memory=2 * 1024 ** 3, NanoCpus=1500000000)
    return inspect


# --- formatting as the docker CLI (go-units) ------------------------------------

@pytest.mark.parametrize("size, text", [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (1536, "1.5KiB"),
    (1048576, "1MiB"), (43306598, "41.3MiB"), (123456789, "117.7MiB"), (67108864, "64MiB"),
    (1073741824, "1GiB"), (1610612736, "1.5GiB"), (9223372036854771712, "8EiB"),
])
def test_binary_size(size, text):
    assert binary_size(size) == text


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (888, "888B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (987654, "988kB"),
    (12300288, "12.3MB"), (13345678, "13.3MB"), (1500000000, "1.5GB"),
    (999999, "1e+03kB"),  # Go's %.3g does the same: docker stats prints 1e+03kB too
])
def test_decimal_size(size, text):
    assert decimal_size(size) == text


# --- cgroup v1 ------------------------------------------------------------------

def test_cgroup_v1_sample():
    entry, metrics = container_stats(load_stats("v1"), load_inspect("hardened"))
    assert entry == {
        "Name": "labs-hardened",
        "CPUPerc": "50.65%",          # 503925735 ns of 1990000000 ns system time, 2 CPUs
        "MemUsage": "1MiB / 64MiB",    # usage 22020096 - total_inactive_file 20971520
        "MemPerc": "1.56%",
        "NetIO": "888B / 0B",
        "BlockIO": "12.3MB / 10.2MB",  # Read and Write only, not Sync/Total
        "PIDs": "2",
        "CPULimit": "0.5",
        "MemLimit": "64MiB",
    }
    assert metrics["cpu_percent"] == pytest.approx(50.6458025)
    assert metrics["memory_bytes"] == 1048576
    assert metrics["memory_limit_bytes"] == 67108864
    assert metrics["memory_percent"] == pytest.approx(1.5625)
    assert (metrics["net_rx_bytes"], metrics["net_tx_bytes"]) == (888, 0)
    assert (metrics["block_read_bytes"], metrics["block_write_bytes"]) == (12300288, 10240000)
    assert metrics["pids"] == 2 and metrics["cpu_limit"] == 0.5 and metrics["sampled"] is True
    assert metrics["restart_count"] == 0 and metrics["health_status"] == "healthy"
    assert metrics["name"] == "labs-hardened" and metrics["id"].startswith("256fa37356a0")


def test_cgroup_v1_cpus_from_percpu_usage_when_online_cpus_is_missing():
    sample = load_stats("v1")
    del sample["cpu_stats"]["online_cpus"]
    sample["cpu_stats"]["cpu_usage"]["percpu_usage"] += [0, 0]  # 4 CPUs
    assert cpu_percent(sample) == pytest.approx(2 * 50.6458025)


def test_cgroup_v1_inactive_file_not_below_usage_counts_the_whole_usage():
    memory = {"usage": 4096, "stats": {"total_inactive_file": 8192, "inactive_file": 8192}, "limit": 0}
    assert memory_used(memory) == 4096


# --- cgroup v2 ------------------------------------------------------------------

def test_cgroup_v2_sample():
    entry, metrics = container_stats(load_stats("v2"), prometheus_inspect())
    assert entry == {
        "Name": "etl-prometheus",
        "CPUPerc": "25.00%",           # 250 ms of 2 s system time, 2 CPUs
        "MemUsage": "1.5GiB / 2GiB",   # usage 1.75 GiB - inactive_file 256 MiB
        "MemPerc": "75.00%",
        "NetIO": "13.3MB / 1.04MB",    # eth0 + eth1
        "BlockIO": "5.24MB / 1.5GB",   # lower-case ops on cgroup v2
        "PIDs": "23",
        "CPULimit": "1.5",
        "MemLimit": "2GiB",
    }
    assert metrics["cpu_percent"] == pytest.approx(25.0)
    assert metrics["memory_bytes"] == 1610612736 and metrics["memory_percent"] == pytest.approx(75.0)
    assert (metrics["net_rx_bytes"], metrics["net_tx_bytes"]) == (13345678, 1041975)
    assert (metrics["block_read_bytes"], metrics["block_write_bytes"]) == (5242880, 1500000000)


def test_cgroup_v2_without_online_cpus_gives_zero_cpu_like_the_cli():
    sample = load_stats("v2")
    sample["cpu_stats"]["online_cpus"] = 0  # and no percpu_usage on cgroup v2
    assert cpu_percent(sample) == 0.0


def test_cgroup_v2_uses_inactive_file():
    memory = load_stats("v2")["memory_stats"]
    assert "total_inactive_file" not in memory["stats"]
    assert memory_used(memory) == 1879048192 - 268435456


# --- no usage, no limits, odd samples ----------------------------------------------

def test_not_running_container_has_na_usage_and_configured_limits():
    entry, metrics = container_stats(load_stats("not_running"), load_inspect("hardened"))
    assert entry == {
        "Name": "labs-hardened", "CPUPerc": "n/a", "MemUsage": "n/a / 64MiB", "MemPerc": "n/a",
        "NetIO": "n/a", "BlockIO": "n/a", "PIDs": "n/a", "CPULimit": "0.5", "MemLimit": "64MiB",
    }
    assert metrics["sampled"] is False
    for key in ("cpu_percent", "memory_bytes", "memory_percent", "net_rx_bytes", "net_tx_bytes",
                "block_read_bytes", "block_write_bytes", "pids"):
        assert metrics[key] is None, key
    assert metrics["memory_limit_bytes"] == 67108864 and metrics["cpu_limit"] == 0.5


@pytest.mark.parametrize("sample", [None, {}, {"memory_stats": None}])
def test_missing_sample_is_no_usage(sample):
    entry, metrics = container_stats(sample, load_inspect("crashy"))
    assert entry["CPUPerc"] == "n/a" and entry["MemUsage"] == "n/a / 0B"
    assert entry["CPULimit"] == "0" and entry["MemLimit"] == "0B"
    assert metrics["restart_count"] == 1 and metrics["health_status"] is None


def test_zero_limits():
    sample = load_stats("v1")
    sample["memory_stats"]["limit"] = 0
    entry, metrics = container_stats(sample, load_inspect("crashy"))  # no --memory, no --cpus
    assert (entry["MemUsage"], entry["MemPerc"], entry["MemLimit"]) == ("1MiB / 0B", "0.00%", "0B")
    assert entry["CPULimit"] == "0"
    assert metrics["memory_percent"] == 0.0 and metrics["memory_limit_bytes"] == 0
    assert metrics["cpu_limit"] == 0.0


def test_memory_limit_falls_back_to_the_container_setting():
    sample = load_stats("v2")
    del sample["memory_stats"]["limit"]
    entry, _ = container_stats(sample, prometheus_inspect())
    assert entry["MemUsage"] == "1.5GiB / 2GiB" and entry["MemPerc"] == "75.00%"


def test_cpu_without_system_time_between_readings_is_zero():
    sample = load_stats("v2")
    sample["precpu_stats"]["system_cpu_usage"] = sample["cpu_stats"]["system_cpu_usage"]
    assert container_stats(sample, prometheus_inspect())[0]["CPUPerc"] == "0.00%"


def test_cpu_without_previous_reading_is_the_average_since_start_like_the_cli():
    sample = load_stats("v2")  # one-shot samples have an empty precpu_stats
    sample["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    assert cpu_percent(sample) == pytest.approx(98765432100 / 1234567890000000 * 2 * 100)
    assert container_stats(sample, prometheus_inspect())[0]["CPUPerc"] == "0.02%"


def test_no_network_and_null_block_io():
    sample = load_stats("v1")
    del sample["networks"]  # --network none
    sample["blkio_stats"]["io_service_bytes_recursive"] = None
    sample["pids_stats"] = {}
    entry, _ = container_stats(sample, load_inspect("hardened"))
    assert (entry["NetIO"], entry["BlockIO"], entry["PIDs"]) == ("0B / 0B", "0B / 0B", "0")


def test_cpu_limit_from_quota_and_period():
    inspect = load_inspect("crashy")
    inspect["HostConfig"].update(CpuQuota=150000, CpuPeriod=100000)
    assert labs_stats.cpu_limit(inspect) == 1.5
    inspect["HostConfig"].update(CpuQuota=50000, CpuPeriod=0)  # period unset: the kernel's 100 ms
    assert labs_stats.cpu_limit(inspect) == 0.5


def test_keys_and_inputs_untouched():
    sample, inspect = load_stats("v2"), prometheus_inspect()
    before = copy.deepcopy((sample, inspect))
    for s in (sample, load_stats("not_running")):
        entry, metrics = container_stats(s, inspect)
        assert set(entry) == set(ENTRY_KEYS) and all(isinstance(v, str) for v in entry.values())
        assert set(metrics) == set(METRIC_KEYS)
    assert (sample, inspect) == before
