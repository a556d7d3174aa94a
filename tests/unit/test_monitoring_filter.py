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
