"""roles/monitoring/filter_plugins/monitoring.py: which apps Prometheus scrapes."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("monitoring_filter", ROOT / "roles" / "monitoring" / "filter_plugins" / "monitoring.py")
flt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flt)
DEFAULT_TARGETS = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())["monitoring_app_targets"]


def test_only_the_apps_whose_stack_network_exists_are_scraped():
    groups = flt.monitoring_target_groups(DEFAULT_TARGETS, ["etl_monitoring", "unrelated"])
    assert groups == [{"targets": ["etl-metrics:9108"], "labels": {"job": "etl"}}]


def test_every_app_in_order_and_none_without_networks():
    groups = flt.monitoring_target_groups(DEFAULT_TARGETS, ["student_back", "etl_monitoring"])
    assert [g["labels"]["job"] for g in groups] == ["student_api", "etl"]
    assert groups[0]["targets"] == ["student-api:5000"]
    assert flt.monitoring_target_groups(DEFAULT_TARGETS, []) == []
    assert flt.monitoring_target_groups(None, ["etl_monitoring"]) == []


def test_a_hosts_address_inside_the_deployment():
    assert flt.monitoring_host_address({"monitoring_agent_address": "10.0.0.9", "ec2_private_ip_address": "10.42.1.5",
                                        "ansible_host": "203.0.113.5"}, "h") == "10.0.0.9"
    assert flt.monitoring_host_address({"ec2_private_ip_address": "10.42.1.5", "ansible_host": "203.0.113.5"},
                                       "h") == "10.42.1.5"
    assert flt.monitoring_host_address({"ansible_host": "db.internal", "ec2_private_ip_address": ""}, "h") == "db.internal"
    assert flt.monitoring_host_address({}, "host-1") == "host-1"


def test_one_exporter_target_per_agent_labelled_with_its_host():
    hostvars = {"a": {"ec2_private_ip_address": "10.42.1.5", "ansible_host": "203.0.113.5"}, "b": {}}
    assert flt.monitoring_exporter_targets(["a", "b"], hostvars, 9417) == [
        {"targets": ["10.42.1.5:9417"], "labels": {"job": "containers", "host": "a", "address": "203.0.113.5"}},
        {"targets": ["b:9417"], "labels": {"job": "containers", "host": "b", "address": "b"}},
    ]
    assert flt.monitoring_exporter_targets([], hostvars, 9417) == []


def test_an_agents_app_is_scraped_where_its_stack_publishes_it():
    hostvars = {"s1": {"ec2_private_ip_address": "10.42.1.5", "ansible_host": "203.0.113.5"},
                "s2": {"ansible_host": "10.42.1.6"}, "x": {"ec2_private_ip_address": "10.42.1.7"}}
    groups = {"student": ["central", "s1", "s2"], "etl": ["central"]}
    found = flt.monitoring_remote_app_targets(DEFAULT_TARGETS, ["s1", "x", "s2"], hostvars, groups)
    assert found == [
        {"targets": ["10.42.1.5:5000"], "labels": {"job": "student_api", "host": "s1", "address": "203.0.113.5"}},
        {"targets": ["10.42.1.6:5000"], "labels": {"job": "student_api", "host": "s2", "address": "10.42.1.6"}},
    ]
    # No agent in the app's group, no group at all, or an app without a published port: nothing.
    assert flt.monitoring_remote_app_targets(DEFAULT_TARGETS, ["x"], hostvars, groups) == []
    assert flt.monitoring_remote_app_targets(DEFAULT_TARGETS, ["s1"], hostvars, {}) == []
    no_port = [dict(t, port=None) for t in DEFAULT_TARGETS]
    assert flt.monitoring_remote_app_targets(no_port, ["s1"], hostvars, groups) == []
