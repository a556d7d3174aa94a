#!/usr/bin/python
# -*- coding: utf-8 -*-
"""A docker stats --no-stream snapshot of containers, from the Docker Engine API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_stats
short_description: Read a C(docker stats --no-stream) snapshot of containers
description:
  - Reads one stats sample of each selected container from the Docker Engine API
    (C(GET /containers/{id}/stats?stream=false), which takes about a second per container) and
    returns what C(docker stats --no-stream --format '{{json .}}') prints for it, computed the way the
    docker CLI does, plus the configured CPU and memory limits, in RV(stats); and the same figures
    as plain numbers in RV(metrics).
  - CPU % is computed from the sample's two readings (100 % is one CPU busy); memory is the usage
    without the inactive page cache (cgroup v1 C(total_inactive_file), cgroup v2 C(inactive_file)),
    in binary units (V(1.5GiB)); network and block I/O in decimal units (V(12.3MB)).
  - Where the engine reports no usage (container not running, no access to the cgroups), the usage
    fields are V(n/a) and the limits come from the container's settings.
  - Only reads. To keep the snapshot in a file, give RV(stats) to M(ansible.builtin.copy) (see EXAMPLES).
  - Talks to the Docker Engine API through the Docker SDK for Python, never the C(docker) CLI.
options:
  names:
    description:
      - Names or IDs of the containers, in the order of the result. A name that does not exist is an error;
        a container that is not running is reported with V(n/a) usage.
      - At least one of O(names) and O(label) is required; both together give the union, O(names) first.
    type: list
    elements: str
  label:
    description:
      - Also the running containers carrying this label, as V(key=value) or just V(key), sorted by name.
    type: str
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.docker
requirements:
  - Docker SDK for Python (C(docker)) on the managed host
author:
  - devops-labs project
"""

EXAMPLES = r"""
- name: Snapshot the running containers of the ETL stack
  container_stats:
    label: io.devops-labs.stack=etl
  register: etl_stats

- name: Keep it as a JSON array, as docker stats would print it
  ansible.builtin.copy:
    content: "{{ etl_stats.stats | to_nice_json }}\n"
    dest: /var/lib/devops-labs/etl/docker_stats.json
    mode: "0644"

- name: Named containers, in this order, through another engine socket
  container_stats:
    names: [etl-postgres, etl-prometheus]
    docker_host: unix:///run/user/1000/docker.sock
  register: some_stats

- name: Fail when PostgreSQL uses more than 90 % of its memory limit
  ansible.builtin.assert:
    that: (some_stats.metrics | selectattr('name', '==', 'etl-postgres') | first).memory_percent < 90
"""

RETURN = r"""
stats:
  description:
    - One entry per container, as C(docker stats --no-stream --format '{{json .}}') prints it,
      plus C(CPULimit) and C(MemLimit). All values are strings.
  returned: always
  type: list
  elements: dict
  contains:
    Name:
      description: Container name.
      type: str
      sample: etl-postgres
    CPUPerc:
      description: CPU use, 100 % being one CPU; V(n/a) without usage data.
      type: str
      sample: "1.27%"
    MemUsage:
      description: Memory used (without inactive page cache) / memory limit, binary units.
      type: str
      sample: 41.3MiB / 512MiB
    MemPerc:
      description: Memory used, percent of the limit; V(0.00%) without a limit.
      type: str
      sample: "8.07%"
    NetIO:
      description: Bytes received / sent over all interfaces, decimal units.
      type: str
      sample: 12.3MB / 1.05MB
    BlockIO:
      description: Bytes read / written on block devices, decimal units.
      type: str
      sample: 9.4MB / 0B
    PIDs:
      description: Number of processes and threads.
      type: str
      sample: "7"
    CPULimit:
      description: CPUs the container may use (C(--cpus)); V(0) without a limit.
      type: str
      sample: "0.5"
    MemLimit:
      description: Memory limit, binary units (the engine's, else the container's setting).
      type: str
      sample: 512MiB
  sample:
    - Name: etl-postgres
      CPUPerc: "1.27%"
      MemUsage: 41.3MiB / 512MiB
      MemPerc: "8.07%"
      NetIO: 12.3MB / 1.05MB
      BlockIO: 9.4MB / 0B
      PIDs: "7"
      CPULimit: "1"
      MemLimit: 512MiB
metrics:
  description:
    - The same figures as numbers, one dict per container in the order of RV(stats).
      The usage figures are null when RV(metrics[].sampled) is false.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
    id:
      description: Container ID.
      type: str
    sampled:
      description: Whether the engine reported usage.
      type: bool
    cpu_percent:
      description: CPU use, 100 being one CPU.
      type: float
    cpu_limit:
      description: CPUs the container may use, 0 without a limit.
      type: float
    memory_bytes:
      description: Memory used without the inactive page cache.
      type: int
    memory_limit_bytes:
      description: Memory limit (the engine's, else the container's setting; 0 without).
      type: int
    memory_percent:
      description: Memory used, percent of the limit.
      type: float
    net_rx_bytes:
      description: Bytes received over all interfaces.
      type: int
    net_tx_bytes:
      description: Bytes sent over all interfaces.
      type: int
    block_read_bytes:
      description: Bytes read from block devices.
      type: int
    block_write_bytes:
      description: Bytes written to block devices.
      type: int
    pids:
      description: Number of processes and threads.
      type: int
    restart_count:
      description: Times Docker restarted the container (inspect C(RestartCount)).
      type: int
    health_status:
      description: Healthcheck status (V(starting), V(healthy), V(unhealthy)), null without a healthcheck.
      type: str
  sample:
    - name: etl-postgres
      id: 4ee19622e5aacb975531a44452322aea3c945a91b594ace7883ca969c0c70328
      sampled: true
      cpu_percent: 1.2698
      cpu_limit: 1.0
      memory_bytes: 43306598
      memory_limit_bytes: 536870912
      memory_percent: 8.0665
      net_rx_bytes: 12300000
      net_tx_bytes: 1050000
      block_read_bytes: 9400000
      block_write_bytes: 0
      pids: 7
      restart_count: 0
      health_status: healthy
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_docker import (
    DockerAccessError,
    container_name,
    docker_argument_spec,
    get_client,
    inspect_container,
    list_containers,
    stats_sample,
)
from ansible.module_utils.labs_stats import container_stats

ARGUMENT_SPEC = dict(
    names=dict(type="list", elements="str"),
    label=dict(type="str"),
    **docker_argument_spec(),
)


def select(client, names, label):
    """Inspect dicts of the named containers (in order), then of the labelled ones (by name), once each."""
    inspects, ids = [], set()
    labelled = sorted(list_containers(client, label=label), key=container_name) if label else []
    for inspect in [inspect_container(client, name) for name in names or []] + labelled:
        if inspect["Id"] not in ids:
            ids.add(inspect["Id"])
            inspects.append(inspect)
    return inspects


def snapshot(client, inspects):
    """(stats entries, metrics) of the containers, in the order of ``inspects``."""
    entries, metrics = [], []
    for inspect in inspects:
        entry, numbers = container_stats(stats_sample(client, container_name(inspect)), inspect)
        entries.append(entry)
        metrics.append(numbers)
    return entries, metrics


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("names", "label")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        client = get_client(params["docker_host"])
        inspects = select(client, params["names"], params["label"])
        entries, metrics = snapshot(client, inspects)
    except DockerAccessError as exc:
        module.fail_json(msg=str(exc))
    if not inspects:
        module.warn("no container to read: none running with label %r" % params["label"])
    module.exit_json(changed=False, stats=entries, metrics=metrics)


if __name__ == "__main__":
    main()
