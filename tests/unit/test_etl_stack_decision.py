"""roles/etl_stack/filter_plugins/etl_stack.py: when the ETL stages run, and why."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("etl_stack_filter", ROOT / "roles" / "etl_stack" / "filter_plugins" / "etl_stack.py")
flt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flt)
decide = flt.etl_stack_decision
OUTPUTS = ["grades.csv", "grades.json", "summary.json"]


def test_nothing_changed_nothing_runs():
    assert decide("auto", OUTPUTS, OUTPUTS, "f1", "f1") == {"run": False, "reasons": []}


def test_a_first_run_has_no_volume_and_no_stamp():
    out = decide("auto", OUTPUTS, None, "", "f1")
    assert out["run"] is True
    assert out["reasons"] == ["outputs missing: grades.csv, grades.json, summary.json", "no successful run recorded"]


def test_a_missing_output_or_a_changed_fingerprint_runs_again():
    assert decide("auto", OUTPUTS, ["grades.csv", "summary.json"], "f1", "f1") == {
        "run": True, "reasons": ["outputs missing: grades.json"]}
    assert decide("auto", OUTPUTS, OUTPUTS, "f1", "f2") == {
        "run": True, "reasons": ["source data, reporting table, ETL image or stage settings changed"]}


def test_always_runs_and_never_does_not_but_both_say_why():
    assert decide("always", OUTPUTS, OUTPUTS, "f1", "f1") == {"run": True, "reasons": ["etl_stack_run_pipeline is always"]}
    assert decide("never", OUTPUTS, None, "", "f1") == {
        "run": False, "reasons": ["outputs missing: grades.csv, grades.json, summary.json", "no successful run recorded"]}


def test_an_unknown_mode_is_refused():
    with pytest.raises(AnsibleFilterError, match="must be one of auto, always, never"):
        decide("sometimes", OUTPUTS, OUTPUTS, "f1", "f1")
