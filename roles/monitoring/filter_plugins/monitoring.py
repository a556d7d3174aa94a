# -*- coding: utf-8 -*-
"""Filters of the monitoring role."""

from __future__ import annotations


def monitoring_target_groups(app_targets, present_networks):
    """Prometheus file_sd target groups of the apps whose network exists on the Docker host.

    ``app_targets``: monitoring_app_targets ([{job, targets, network}]); ``present_networks``: the
    names of the networks found. Returns [{targets, labels: {job}}] in the order given.
    """
    present = set(present_networks or [])
    return [{"targets": list(t["targets"]), "labels": {"job": t["job"]}}
            for t in app_targets or [] if t["network"] in present]


def _var(host_vars, key):
    value = host_vars.get(key) if host_vars else None
    return "" if value is None else str(value).strip()


def monitoring_host_address(host_vars, name):
    """A host's address inside the deployment (where the others reach its exporter and log collector).

    ``host_vars``: hostvars[name]. Its monitoring_agent_address when the inventory sets one, else its EC2
    private address, else ansible_host, else the inventory name.
    """
    for key in ("monitoring_agent_address", "ec2_private_ip_address", "ansible_host"):
        if _var(host_vars, key):
            return _var(host_vars, key)
    return str(name)


def _host_target(hostvars, name, port, job):
    """The target group of one port of a host: <its address inside the deployment>:<port>, labelled job, host
    (the inventory name, which tells apart the series of the same stack on two hosts) and address (where a
    browser reaches that host's published ports: ansible_host, else the scrape address)."""
    host_vars = hostvars[name] if name in hostvars else {}
    address = monitoring_host_address(host_vars, name)
    return {"targets": ["%s:%s" % (address, port)],
            "labels": {"job": job, "host": str(name), "address": _var(host_vars, "ansible_host") or address}}


def monitoring_exporter_targets(hosts, hostvars, port):
    """Prometheus file_sd target groups of the agents' exporters, one per host, in inventory order, each
    labelled job=containers (like the central host's own exporter), host and address (_host_target)."""
    return [_host_target(hostvars, name, port, "containers") for name in hosts or []]


def monitoring_remote_app_targets(app_targets, hosts, hostvars, groups):
    """Prometheus file_sd target groups of the apps that run on the agents' hosts, in inventory order.

    The central Prometheus cannot join another host's networks, so it scrapes such an app where its stack
    publishes it: an app target with ``group`` (the inventory group whose hosts run its stack) and ``port``
    (the port it is published on) gives, for each host of ``hosts`` in that group, <the host's address inside
    the deployment>:<port>, labelled job, host and address as the exporters are (_host_target).
    """
    return [_host_target(hostvars, name, target["port"], target["job"])
            for name in hosts or [] for target in app_targets or []
            if target.get("group") and target.get("port") and name in (groups or {}).get(target["group"], [])]


class FilterModule:
    def filters(self):
        return {"monitoring_target_groups": monitoring_target_groups,
                "monitoring_host_address": monitoring_host_address,
                "monitoring_exporter_targets": monitoring_exporter_targets,
                "monitoring_remote_app_targets": monitoring_remote_app_targets}
