# -*- coding: utf-8 -*-
"""``docker stats`` figures of a container, computed from the Docker Engine API.

One place for the idea "what a container uses": ``container_stats(sample, inspect)``
turns one answer of ``GET /containers/{id}/stats?stream=false`` (``sample``, read
with ``labs_docker.stats_sample``) and the container's inspect dict into

- ``metrics``: the plain numbers (CPU %, bytes, PIDs, limits, restart count,
  health), None where the engine reports no usage; meant for machines (a
  Prometheus exporter, assertions),
- ``entry``: what ``docker stats --no-stream --format '{{json .}}'`` prints for
  it (keys Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs) plus the
  configured limits CPULimit and MemLimit; formatted from ``metrics`` only.

The arithmetic and the formatting follow the docker CLI (cli/command/container/
stats_helpers.go and formatter_stats.go, and go-units):

- CPU % = (container CPU delta / system CPU delta) x online CPUs x 100 between
  ``precpu_stats`` and ``cpu_stats``, 0 when either delta is not positive;
  online CPUs fall back to the length of ``percpu_usage`` (cgroup v1),
- memory = usage minus the inactive page cache (``total_inactive_file`` on
  cgroup v1, ``inactive_file`` on cgroup v2) when smaller than the usage,
  memory % of the limit the engine reports (0 without a limit),
- network: rx/tx bytes summed over the interfaces; block I/O: the Read/Write
  (v1) or read/write (v2) entries of ``io_service_bytes_recursive`` summed,
- memory in binary units with 4 significant digits (``1.5GiB``), I/O in
  decimal units with 3 (``12.3MB``), both as Go's ``%g`` prints them.

A sample without ``memory_stats.usage`` (container not running, or an engine
without access to the cgroups) has no usage: the entry says ``n/a`` and keeps
the limits from the container's settings (HostConfig.Memory, NanoCpus).

Everything here is pure (no engine access), for unit tests on fake payloads,
and imports nothing from Ansible: this very file is also staged into the image of
apps/container_exporter (apps/container_exporter/SHARED, roles/images), so the
Prometheus exporter and the container_stats module compute the same figures.  labs_docker re-exports the
inspect readers below.
"""

from __future__ import annotations

__all__ = [
    "container_name",
    "restart_count",
    "health_status",
    "ENTRY_KEYS",
    "METRIC_KEYS",
    "binary_size",
    "decimal_size",
    "cpu_percent",
    "memory_used",
    "network_io",
    "block_io",
    "cpu_limit",
    "stats_metrics",
    "format_entry",
    "container_stats",
]

# The keys of an entry: docker stats' columns, then the configured limits.
ENTRY_KEYS = ("Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs", "CPULimit", "MemLimit")
METRIC_KEYS = ("name", "id", "sampled", "cpu_percent", "cpu_limit", "memory_bytes", "memory_limit_bytes",
               "memory_percent", "net_rx_bytes", "net_tx_bytes", "block_read_bytes", "block_write_bytes",
               "pids", "restart_count", "health_status")

NOT_AVAILABLE = "n/a"
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def container_name(inspect):
    """The name without Docker's leading slash."""
    return (inspect.get("Name") or "").lstrip("/") or inspect.get("Id", "")[:12]


def restart_count(inspect):
    return int(inspect.get("RestartCount") or 0)


def health_status(inspect):
    """Docker healthcheck status (starting, healthy, unhealthy) or None without a healthcheck."""
    health = (inspect.get("State") or {}).get("Health")
    return health.get("Status") if health else None


def _number(value):
    """An engine counter as an int (absent or null: 0)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _human(size, base, units, precision):
    # go-units getSizeAndUnit + "%.*g%s"; Python's %g prints like Go's (1.5, 64, 1e+03).
    size = float(size)
    unit = 0
    while size >= base and unit < len(units) - 1:
        size /= base
        unit += 1
    return "%.*g%s" % (precision, size, units[unit])


def binary_size(size):
    """Memory as the docker CLI prints it (go-units BytesSize): 1.5GiB, 64MiB, 0B."""
    return _human(size, 1024.0, _BINARY_UNITS, 4)


def decimal_size(size):
    """I/O as the docker CLI prints it (go-units HumanSizeWithPrecision(size, 3)): 12.3MB, 888B."""
    return _human(size, 1000.0, _DECIMAL_UNITS, 3)


def cpu_percent(sample):
    """CPU % between the two readings of a stats sample (100 % = one CPU busy)."""
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    cpu_delta = _number(usage.get("total_usage")) - _number((pre.get("cpu_usage") or {}).get("total_usage"))
    system_delta = _number(cpu.get("system_cpu_usage")) - _number(pre.get("system_cpu_usage"))
    online = _number(cpu.get("online_cpus")) or len(usage.get("percpu_usage") or [])
    if cpu_delta > 0 and system_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_used(memory_stats):
    """Memory usage without the inactive page cache, or None when the engine reports no usage."""
    if "usage" not in (memory_stats or {}):
        return None
    usage = _number(memory_stats["usage"])
    stats = memory_stats.get("stats") or {}
    if "total_inactive_file" in stats and _number(stats["total_inactive_file"]) < usage:  # cgroup v1
        return usage - _number(stats["total_inactive_file"])
    inactive = _number(stats.get("inactive_file"))  # cgroup v2
    return usage - inactive if inactive < usage else usage


def network_io(sample):
    """(received, sent) bytes over all the container's interfaces."""
    networks = (sample.get("networks") or {}).values()
    return (sum(_number(n.get("rx_bytes")) for n in networks),
            sum(_number(n.get("tx_bytes")) for n in networks))


def block_io(sample):
    """(read, written) bytes of the block devices."""
    read = written = 0
    for entry in (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or " ")[0]
        if op in "rR":
            read += _number(entry.get("value"))
        elif op in "wW":
            written += _number(entry.get("value"))
    return read, written


def cpu_limit(inspect):
    """CPUs the container may use (--cpus, or --cpu-quota/--cpu-period), 0.0 without a limit."""
    host = inspect.get("HostConfig") or {}
    if _number(host.get("NanoCpus")):
        return _number(host["NanoCpus"]) / 1e9
    quota = _number(host.get("CpuQuota"))
    if quota > 0:
        return quota / float(_number(host.get("CpuPeriod")) or 100000)
    return 0.0


def stats_metrics(sample, inspect):
    """The numbers of one container: a dict with the keys of METRIC_KEYS.

    ``sampled`` is false when the engine reported no usage; the usage figures
    (cpu_percent, memory_bytes, memory_percent, net_*, block_*, pids) are None then.
    ``memory_limit_bytes`` is the limit the engine reports, else HostConfig.Memory (0: none).
    """
    sample = sample or {}
    memory = sample.get("memory_stats") or {}
    used = memory_used(memory)
    limit = _number(memory.get("limit")) or _number((inspect.get("HostConfig") or {}).get("Memory"))
    metrics = dict(
        name=container_name(inspect),
        id=inspect.get("Id", ""),
        sampled=used is not None,
        cpu_percent=None,
        cpu_limit=cpu_limit(inspect),
        memory_bytes=used,
        memory_limit_bytes=limit,
        memory_percent=None,
        net_rx_bytes=None,
        net_tx_bytes=None,
        block_read_bytes=None,
        block_write_bytes=None,
        pids=None,
        restart_count=restart_count(inspect),
        health_status=health_status(inspect),
    )
    if used is not None:
        rx, tx = network_io(sample)
        read, written = block_io(sample)
        metrics.update(
            cpu_percent=cpu_percent(sample),
            memory_percent=used / float(limit) * 100.0 if limit else 0.0,
            net_rx_bytes=rx, net_tx_bytes=tx,
            block_read_bytes=read, block_write_bytes=written,
            pids=_number((sample.get("pids_stats") or {}).get("current")),
        )
    return metrics


def format_entry(metrics):
    """The ``docker stats`` entry (keys of ENTRY_KEYS, all strings) of ``stats_metrics``' result."""
    limit = binary_size(metrics["memory_limit_bytes"])
    entry = dict(Name=metrics["name"], CPULimit="%g" % metrics["cpu_limit"], MemLimit=limit)
    if not metrics["sampled"]:
        entry.update(CPUPerc=NOT_AVAILABLE, MemUsage="%s / %s" % (NOT_AVAILABLE, limit),
                     MemPerc=NOT_AVAILABLE, NetIO=NOT_AVAILABLE, BlockIO=NOT_AVAILABLE, PIDs=NOT_AVAILABLE)
        return entry
    entry.update(
        CPUPerc="%.2f%%" % metrics["cpu_percent"],
        MemUsage="%s / %s" % (binary_size(metrics["memory_bytes"]), limit),
        MemPerc="%.2f%%" % metrics["memory_percent"],
        NetIO="%s / %s" % (decimal_size(metrics["net_rx_bytes"]), decimal_size(metrics["net_tx_bytes"])),
        BlockIO="%s / %s" % (decimal_size(metrics["block_read_bytes"]), decimal_size(metrics["block_write_bytes"])),
        PIDs="%d" % metrics["pids"],
    )
    return entry


def container_stats(sample, inspect):
    """(entry, metrics) of one container from its stats sample and inspect dict; see the module docstring."""
    metrics = stats_metrics(sample, inspect)
    return format_entry(metrics), metrics
