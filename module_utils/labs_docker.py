# -*- coding: utf-8 -*-
"""Thin shared access to the Docker Engine API for the project's modules.

Everything goes through the Docker SDK for Python (``docker`` package), never
through the ``docker`` CLI. Functions raise ``DockerAccessError`` with a
message meant for the user; modules turn it into ``fail_json``.

Inspect data is the plain dict of ``GET /containers/{id}/json`` (what
``docker inspect`` prints), so the small readers below work on real engine
answers and on fake JSON in unit tests alike.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import env_fallback
# Readers of an inspect dict that need nothing from Ansible live in labs_stats (an app image carries a copy
# of that file, apps/container_exporter); re-exported here for the modules.
from ansible.module_utils.labs_stats import container_name, health_status, restart_count

try:
    import docker
    from docker.errors import DockerException, NotFound
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # reported by get_client()
    docker = None
    DockerException = NotFound = Exception
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "docker_argument_spec",
    "DockerAccessError",
    "HAS_DOCKER",
    "DOCKER_IMPORT_ERROR",
    "get_client",
    "inspect_container",
    "inspect_image",
    "list_containers",
    "stats_sample",
    "container_name",
    "restart_count",
    "state_status",
    "is_running",
    "health_status",
    "published_ports",
    "pid1_cmdline",
]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def docker_argument_spec():
    """A fresh argument_spec of ``docker_host`` (E(DOCKER_HOST) as fallback).

    Documented for the modules by the ``labs.docker`` doc fragment
    (plugins/doc_fragments/labs.py).
    """
    return dict(
        docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=(env_fallback, ["DOCKER_HOST"])),
    )


class DockerAccessError(Exception):
    """The engine could not be used: SDK missing, engine unreachable, no such container."""


def get_client(docker_host=DEFAULT_DOCKER_HOST, timeout=60):
    """A ``docker.DockerClient`` for ``docker_host``, checked with a ping."""
    if not HAS_DOCKER:
        raise DockerAccessError(
            "the Docker SDK for Python is required on the managed host "
            "(pip install docker): %s" % (DOCKER_IMPORT_ERROR or "import failed").strip().splitlines()[-1])
    try:
        client = docker.DockerClient(base_url=docker_host or DEFAULT_DOCKER_HOST,
                                     version="auto", timeout=timeout)
        client.ping()
    except (DockerException, OSError) as exc:
        raise DockerAccessError(
            "cannot reach the Docker engine at %s: %s (is dockerd running and is "
            "the socket readable by this user?)" % (docker_host, exc))
    return client


def inspect_container(client, name):
    """The inspect dict of container ``name`` (name or id)."""
    try:
        return client.api.inspect_container(name)
    except NotFound:
        raise DockerAccessError("no container named %r on this Docker engine" % (name,))
    except DockerException as exc:
        raise DockerAccessError("cannot inspect container %r: %s" % (name, exc))


def inspect_image(client, image):
    """The inspect dict of ``image`` (ID or reference), or None when the engine has no such image."""
    try:
        return client.api.inspect_image(image)
    except NotFound:
        return None
    except DockerException as exc:
        raise DockerAccessError("cannot inspect image %r: %s" % (image, exc))


def list_containers(client, label=None, all=False):
    """Inspect dicts of the containers carrying ``label`` ("key" or "key=value").

    Only running containers unless ``all``.
    """
    filters = {"label": label} if label else {}
    result = []
    try:
        for summary in client.api.containers(all=all, filters=filters):
            try:
                result.append(client.api.inspect_container(summary["Id"]))
            except NotFound:  # removed between list and inspect
                continue
    except DockerException as exc:
        raise DockerAccessError("cannot list containers (label %r): %s" % (label, exc))
    return result


def stats_sample(client, name):
    """One stats sample of container ``name``: the dict of ``GET /containers/{id}/stats?stream=false``.

    The engine reads the cgroups twice, about a second apart, so the answer has both
    ``precpu_stats`` and ``cpu_stats`` (what CPU % needs) and takes that long. A container
    that is not running gets a sample without usage (empty ``memory_stats``).
    labs_stats.container_stats turns it into ``docker stats`` figures.
    """
    try:
        return client.api.stats(name, stream=False)
    except NotFound:
        raise DockerAccessError("no container named %r on this Docker engine" % (name,))
    except DockerException as exc:
        raise DockerAccessError("cannot read the stats of container %r: %s" % (name, exc))


def state_status(inspect):
    """created, running, restarting, exited, paused, dead ..."""
    return (inspect.get("State") or {}).get("Status", "")


def is_running(inspect):
    state = inspect.get("State") or {}
    return bool(state.get("Running")) and not state.get("Restarting") and bool(state.get("Pid"))


def published_ports(inspect, configured=True, actual=True):
    """{(container port, host IP, host port)} of the published ports.

    ``configured``: from ``HostConfig.PortBindings`` (known even when the container
    is not running; the host port is "" when Docker picks it); ``actual``: from
    ``NetworkSettings.Ports`` (running containers only). An empty host IP is 0.0.0.0.
    """
    seen = set()
    sources = []
    if configured:
        sources.append((inspect.get("HostConfig") or {}).get("PortBindings"))
    if actual:
        sources.append((inspect.get("NetworkSettings") or {}).get("Ports"))
    for ports in sources:
        for port, bindings in (ports or {}).items():
            for binding in bindings or []:
                seen.add((port, binding.get("HostIp") or "0.0.0.0", binding.get("HostPort") or ""))
    return seen


def pid1_cmdline(client, name):
    """The command line of PID 1 in the container, arguments joined by spaces.

    Read with ``cat /proc/1/cmdline`` through exec; when the image has no
    ``cat`` (distroless) or exec fails, taken from the engine's ``top`` as the
    process whose host PID is the container's ``State.Pid``.
    Returns None when neither works (container not running).
    """
    try:
        container = client.containers.get(name)
    except NotFound:
        raise DockerAccessError("no container named %r on this Docker engine" % (name,))
    except DockerException as exc:
        raise DockerAccessError("cannot get container %r: %s" % (name, exc))
    try:
        exit_code, output = container.exec_run(["cat", "/proc/1/cmdline"], stdout=True,
                                               stderr=False, demux=False)
        if exit_code == 0 and output:
            return output.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except DockerException:
        pass
    try:
        host_pid = str(container.attrs.get("State", {}).get("Pid", ""))
        top = container.top()
        titles = top.get("Titles") or []
        pid_col, cmd_col = titles.index("PID"), titles.index("CMD")
        for process in top.get("Processes") or []:
            if process[pid_col] == host_pid:
                return process[cmd_col]
    except (DockerException, ValueError, IndexError):
        pass
    return None
