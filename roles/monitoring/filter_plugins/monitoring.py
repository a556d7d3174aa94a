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


class FilterModule:
    def filters(self):
        return {"monitoring_target_groups": monitoring_target_groups}
