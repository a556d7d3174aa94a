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


def test_the_failing_task_is_found_past_ignored_failures_and_the_destroy_phase():
    log = """TASK [Probe once] ***
fatal: [molecule-x]: FAILED! => {"msg": "first try"}
...ignoring

TASK [Probe each] ***
failed: [molecule-x] (item=a) => {"msg": "a is down"}
ok: [molecule-x] => (item=b)
...ignoring

TASK [Check the UI lists the repositories] ***
fatal: [molecule-x]: FAILED! => {"assertion": "'molecule/doomed' in verify_ui_list.content", "msg": "Assertion failed"}

PLAY RECAP ***
molecule-x : ok=3 changed=0 failed=1

TASK [Destroy molecule instance(s)] ***
changed: [localhost]
""".splitlines()
    excerpt = runner.failing_task(log)
    assert excerpt[0] == "TASK [Check the UI lists the repositories] ***"
    assert "molecule/doomed" in excerpt[1] and len(excerpt) == 2
    assert runner.failing_task(["TASK [ok] ***", "ok: [x]"]) == []
    long = runner.failing_task(["TASK [t] ***", "fatal: [x]: FAILED! => " + "y" * 5000])
    assert len(long[1]) < 500 and long[1].endswith(" ...")


def test_the_failing_task_is_printed_after_the_tail(fake_molecule, monkeypatch, capsys, tmp_path):
    bin_dir = tmp_path / "bin"
    (bin_dir / "molecule").write_text(
        '#!/bin/sh\necho "TASK [Check the thing] ***"\necho "fatal: [m]: FAILED! => {\\"msg\\": \\"the reason\\"}"\n'
        'echo\necho "TASK [Destroy] ***"\necho "changed: [localhost]"\nexit 2\n')
    assert runner.main(["--jobs", "1", "ec2"]) == 1
    out = capsys.readouterr().out
    tail_end = out.rindex("changed: [localhost]")
    assert out.index("===== ec2: the task that failed =====") > tail_end
    assert out.rindex('fatal: [m]: FAILED! => {"msg": "the reason"}') > tail_end


def test_a_scenario_that_passes_on_its_second_run_is_reported_flaky(fake_molecule, monkeypatch, capsys, tmp_path):
    marker = tmp_path / "failed-once"
    (tmp_path / "bin" / "molecule").write_text(
        '#!/bin/sh\nif [ ! -e %s ]; then touch %s; echo "TASK [Pull while read-only] ***"; '
        'echo "fatal: [m]: FAILED! => {}"; exit 2; fi\necho "all good"\n' % (marker, marker))
    assert runner.main(["--jobs", "1", "--retries", "1", "registry"]) == 0
    out = capsys.readouterr().out
    assert "FLAKY registry: failed 1 time(s) before its last run, at: TASK [Pull while read-only] ***" in out
    assert "registry ok after 1 failure(s)" in out
    assert "Pull while read-only" in (fake_molecule / "registry.failed-1.log").read_text()
    assert (fake_molecule / "registry.log").read_text().strip() == "all good"


def test_without_retries_a_failure_is_final(fake_molecule, monkeypatch, capsys, tmp_path):
    marker = tmp_path / "failed-once"
    (tmp_path / "bin" / "molecule").write_text(
        '#!/bin/sh\n[ -e %s ] && exit 0\ntouch %s\nexit 2\n' % (marker, marker))
    assert runner.main(["--jobs", "1", "registry"]) == 1
    assert "FLAKY" not in capsys.readouterr().out


def test_the_failing_task_is_found_in_a_coloured_log_with_molecule_s_gutter_and_says_why():
    log = [
        "  \x1b[2m│\x1b[0m TASK [Run the pipeline a first time (builds, pushes, redeploys what differs",
        "  \x1b[2m│\x1b[0m   from the loaded images)] ***",
        "  \x1b[2m\x1b[31m│\x1b[0m \x1b[0;31mfatal: [molecule-registry -> localhost]: FAILED! => \x1b[0m",
        "  \x1b[2m│\x1b[0m     changed: true",
        "  \x1b[2m│\x1b[0m     msg: non-zero return code",
        "  \x1b[2m│\x1b[0m     rc: 2",
        "  \x1b[2m│\x1b[0m ",
        "  \x1b[2m│\x1b[0m         [ERROR]: Task failed: Module failed: no such image:",
        "  \x1b[2m│\x1b[0m   127.0.0.1:5001/labs/prometheus:latest",
        "  \x1b[2m│\x1b[0m PLAY RECAP ***",
    ]
    excerpt = runner.failing_task(log)
    assert excerpt[0].startswith("TASK [Run the pipeline a first time")
    assert excerpt[1] == "fatal: [molecule-registry -> localhost]: FAILED! =>"
    assert "    msg: non-zero return code" in excerpt and "changed: true" not in " ".join(excerpt)
    assert "  127.0.0.1:5001/labs/prometheus:latest" in excerpt  # the line the [ERROR] wraps onto
    assert not any("\x1b" in line or "│" in line for line in excerpt)
