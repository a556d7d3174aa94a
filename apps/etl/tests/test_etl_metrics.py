"""Job metrics files, their merge, the metrics HTTP server, healthcheck,
and atomic file replacement."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from etl import cli
from etl.atomic import AtomicFile, AtomicGroup
from etl.config import load_settings
from etl.errors import EXIT_INPUT, OutputError
from etl.metrics import GAUGES, merge_directory, parse_exposition, render_stage_metrics, write_stage_metrics
from etl.server import MetricsServer


def _values(text):
    return {
        (name + labels): float(value)
        for family in parse_exposition(text).values()
        for name, labels, value in family.samples
    }


def test_stage_metrics_success_then_failure_keeps_last_success(tmp_path):
    write_stage_metrics(str(tmp_path), "load", finished_at=1000.0, exit_code=0, duration=2.0, rows=500, bad_rows=0)
    write_stage_metrics(str(tmp_path), "load", finished_at=2000.0, exit_code=4, duration=1.0, rows=0, bad_rows=0)
    values = _values((tmp_path / "etl_load.prom").read_text())
    assert values['etl_stage_last_success_timestamp_seconds{stage="load"}'] == 1000.0
    assert values['etl_stage_last_run_timestamp_seconds{stage="load"}'] == 2000.0
    assert values['etl_stage_last_run_success{stage="load"}'] == 0
    assert values['etl_stage_last_exit_code{stage="load"}'] == 4
    # A stage that never succeeded reports 0, which the stale alert catches.
    write_stage_metrics(str(tmp_path), "report", finished_at=5.0, exit_code=5, duration=0.1, rows=0, bad_rows=0)
    assert _values((tmp_path / "etl_report.prom").read_text())[
        'etl_stage_last_success_timestamp_seconds{stage="report"}'
    ] == 0


def test_merge_gives_one_family_header_and_skips_bad_files(tmp_path):
    for stage, rows in (("extract", 10), ("transform", 10)):
        write_stage_metrics(str(tmp_path), stage, finished_at=1.0, exit_code=0, duration=1.0, rows=rows, bad_rows=1)
    (tmp_path / "broken.prom").write_text("this is { not a metric\n")
    (tmp_path / "ignored.txt").write_text("not a .prom file")
    text = merge_directory(str(tmp_path), now=123.0)
    assert text.count("# TYPE etl_stage_rows_processed gauge") == 1
    values = _values(text)  # the merged text parses again
    assert values['etl_stage_rows_processed{stage="extract"}'] == 10
    assert values['etl_stage_rows_processed{stage="transform"}'] == 10
    assert values["etl_textfile_scrape_error"] == 1
    assert 'etl_textfile_mtime_seconds{file="etl_extract.prom"}' in values
    promtool = shutil.which("promtool")
    if promtool:  # the real parser agrees
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert "error" not in (check.stdout + check.stderr).lower(), check.stdout + check.stderr


def test_failed_stage_writes_failure_metrics(etl_dirs):
    env = {"ETL_WORK_DIR": str(etl_dirs["work"]), "ETL_METRICS_DIR": str(etl_dirs["metrics"])}
    assert cli.main(["transform"], env=env) == EXIT_INPUT
    values = _values((etl_dirs["metrics"] / "etl_transform.prom").read_text())
    assert values['etl_stage_last_exit_code{stage="transform"}'] == EXIT_INPUT
    assert values['etl_stage_last_run_success{stage="transform"}'] == 0


@pytest.fixture
def metrics_server(tmp_path):
    server = MetricsServer(("127.0.0.1", 0), str(tmp_path))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server, tmp_path
    server.shutdown()
    server.server_close()


def test_metrics_server_endpoints(metrics_server):
    server, directory = metrics_server
    base = f"http://127.0.0.1:{server.server_address[1]}"
    write_stage_metrics(str(directory), "load", finished_at=42.0, exit_code=0, duration=1.0, rows=7, bad_rows=0)
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = resp.read().decode()
    assert _values(body)['etl_stage_rows_processed{stage="load"}'] == 7
    with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
        assert resp.status == 200 and resp.read() == b"ok\n"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/nope", timeout=5)
    assert err.value.code == 404
    # The healthcheck command checks the server only when it is PID 1's job.
    cmdline = directory / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0-m\0etl\0serve-metrics\0")
    settings = load_settings({"ETL_METRICS_PORT": str(server.server_address[1])})
    assert cli.healthcheck(settings, str(cmdline)) == 0
    assert cli.healthcheck(load_settings({"ETL_METRICS_PORT": "1"}), str(cmdline)) == 1
    cmdline.write_bytes(b"/opt/venv/bin/python\0-m\0etl\0extract\0")
    assert cli.healthcheck(load_settings({"ETL_METRICS_PORT": "1"}), str(cmdline)) == 0
    shutil.rmtree(directory / "")  # directory gone: unhealthy
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/healthz", timeout=5)
    assert err.value.code == 503


def test_atomic_file_is_invisible_until_commit(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with AtomicFile(str(target)) as atomic:
        atomic.write("new content")
        assert target.read_text() == "old"
        atomic.commit()
    assert target.read_text() == "new content"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(RuntimeError):
        with AtomicFile(str(target)) as atomic:
            atomic.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "new content"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind


def test_atomic_group_publishes_all_or_nothing(tmp_path):
    (tmp_path / "a").write_text("a0")
    with AtomicGroup() as group:
        group.open(str(tmp_path / "a")).write("a1")
        group.open(str(tmp_path / "b")).write("b1")
    assert (tmp_path / "a").read_text() == "a0" and not (tmp_path / "b").exists()
    with AtomicGroup() as group:
        group.open(str(tmp_path / "a")).write("a2")
        group.open(str(tmp_path / "b")).write("b2")
        group.publish()
    assert (tmp_path / "a").read_text() == "a2" and (tmp_path / "b").read_text() == "b2"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_atomic_file_in_missing_directory(tmp_path):
    with pytest.raises(OutputError):
        AtomicFile(str(tmp_path / "no" / "such" / "file"))


# -- hostile input (issue #16) ---------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
       | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12),
       path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
       body=st.binary(max_size=64))
def test_metrics_server_never_answers_5xx(metrics_server, method, path, body):
    server, _directory = metrics_server
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    try:
        conn.request(method, "/" + path, body=body or None)
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status < 500, (method, path, status)


@settings(max_examples=200, deadline=None)
@given(stage=st.text(max_size=30), values=st.dictionaries(
    st.sampled_from([name for name, _help in GAUGES]),
    st.floats(allow_nan=False) | st.integers(-10 ** 12, 10 ** 12), min_size=1))
def test_stage_metrics_round_trip_through_prometheus_client(stage, values):
    """What render_stage_metrics writes parses back (prometheus_client's parser) to the same values,
    whatever the stage name holds (quotes, backslashes, newlines)."""
    text = render_stage_metrics(stage, values)
    parsed = {s.name: (s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples}
    assert parsed == {name: ({"stage": stage}, float(value)) for name, value in values.items()}
