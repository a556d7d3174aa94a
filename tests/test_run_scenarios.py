"""scripts/run_scenarios.py: order, failure reporting and exit status, with a stand-in `molecule`."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_runner():
    spec = importlib.util.spec_from_file_location("run_scenarios", ROOT / "scripts" / "run_scenarios.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = load_runner()


def test_longest_first_uses_recorded_durations_then_the_default_order():
    durations = {"api_pair": 300.0, "registry": 100.0}
    order = runner.longest_first(["docker_engine", "registry", "api_pair", "zzz_new", "ec2"], durations)
    assert order == ["api_pair", "registry", "ec2", "docker_engine", "zzz_new"]


def test_every_scenario_directory_is_found():
    found = runner.all_scenarios()
    assert found == sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
    assert "registry" in found and "resources" not in found


@pytest.fixture()
def fake_molecule(tmp_path, monkeypatch):
    """A `molecule` on PATH that fails for the scenario named in FAIL_SCENARIO."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "molecule"
    script.write_text('#!/bin/sh\necho "molecule $*"\n[ "$3" = "$FAIL_SCENARIO" ] && { echo "boom in $3"; exit 3; }\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    monkeypatch.setattr(runner, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(runner, "DURATIONS", tmp_path / "logs" / "durations.json")
    return tmp_path / "logs"


def test_a_failed_scenario_fails_the_run_and_its_log_tail_is_printed(fake_molecule, monkeypatch, capsys):
    monkeypatch.setenv("FAIL_SCENARIO", "ec2")
    assert runner.main(["--jobs", "2", "ec2", "api_pair"]) == 1
    out = capsys.readouterr().out
    assert "FAILED (exit 3) ec2" in out and "passed api_pair" in out
    assert "boom in ec2" in out  # the tail of the failed log
    assert (fake_molecule / "api_pair.log").read_text().strip() == "molecule test -s api_pair"
    # Only passed scenarios record a duration.
    assert set(json.loads((fake_molecule / "durations.json").read_text())) == {"api_pair"}


def test_all_passed_exits_zero(fake_molecule, monkeypatch):
    monkeypatch.setenv("FAIL_SCENARIO", "")
    assert runner.main(["--jobs", "1", "docker_engine"]) == 0


def test_unknown_scenario_is_refused(fake_molecule):
    with pytest.raises(SystemExit) as exc:
        runner.main(["no_such_scenario"])
    assert exc.value.code == 2
