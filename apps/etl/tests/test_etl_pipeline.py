"""The whole pipeline against a real PostgreSQL (see conftest.pg_cluster):
row counts, bad-row counting, atomic replacement, reporting tables."""

from __future__ import annotations

import csv
import json
import os
import threading
import time

import pytest

from etl import cli
from etl.errors import EXIT_BAD_ROWS, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT
from etl.transform import OUTPUT_COLUMNS, REASONS

pytestmark = pytest.mark.postgres  # every test here uses the real cluster

# Independent oracle: the validation rules of etl.transform written in SQL.
ORACLE = """
WITH src AS (
  SELECT g.score, g.max_score, g.graded_at,
         nullif(btrim(s.first_name), '') AS first_name,
         nullif(btrim(s.last_name), '') AS last_name,
         lower(btrim(s.email)) AS email, s.birth_date
  FROM school.grades g
  JOIN school.enrolments e ON e.enrolment_id = g.enrolment_id
  JOIN school.students s ON s.student_id = e.student_id
)
SELECT CASE
  WHEN score IS NULL THEN 'missing_score'
  WHEN max_score IS NULL OR max_score <= 0 THEN 'invalid_max_score'
  WHEN score < 0 OR score > max_score THEN 'score_out_of_range'
  WHEN graded_at IS NULL THEN 'invalid_graded_at'
  WHEN first_name IS NULL OR last_name IS NULL THEN 'missing_name'
  WHEN email IS NULL OR email !~ '^[^@[:space:]]+@[^@[:space:]]+\\.[A-Za-z]{2,}$' THEN 'invalid_email'
  WHEN birth_date IS NULL
       OR date_part('year', age((graded_at AT TIME ZONE 'UTC')::date, birth_date)) NOT BETWEEN 14 AND 99
       THEN 'invalid_birth_date'
  ELSE 'valid' END AS reason, count(*)
FROM src GROUP BY 1
"""


def run(command, env):
    return cli.main([command], env=env)


def run_pipeline(etl_env, **extra):
    reader = etl_env("etl_reader", **extra)
    writer = etl_env("etl_writer", **extra)
    assert run("extract", reader) == EXIT_OK
    assert run("transform", reader) == EXIT_OK
    assert run("load", writer) == EXIT_OK
    assert run("report", reader) == EXIT_OK


@pytest.fixture(scope="module")
def oracle(pg_cluster):
    with pg_cluster.connect("school_owner") as conn:
        counts = dict(conn.execute(ORACLE).fetchall())
        total = conn.execute("SELECT count(*) FROM school.grades").fetchone()[0]
    return total, counts


def test_full_pipeline_row_counts(pg_cluster, etl_env, etl_dirs, oracle):
    total, counts = oracle[0], dict(oracle[1])
    valid = counts.pop("valid")
    assert total == pg_cluster.seed_rows
    # The seed is deliberately dirty: every rule is exercised.
    assert set(counts) == set(REASONS), counts
    run_pipeline(etl_env)

    out = etl_dirs["output"]
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == OUTPUT_COLUMNS
    assert len(rows) - 1 == valid
    records = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert len(records) == valid
    assert list(records[0]) == OUTPUT_COLUMNS
    assert isinstance(records[0]["grade_id"], int) and isinstance(records[0]["passed"], bool)
    assert [r["grade_id"] for r in records] == [int(r[0]) for r in rows[1:]]

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["rows_extracted"] == total
    assert summary["rows_valid"] == valid
    assert summary["bad_rows"] == total - valid
    assert {k: v for k, v in summary["bad_by_reason"].items() if v} == counts
    with open(out / "rejected_rows.csv", newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == total - valid
    assert {r["reason"] for r in rejected} == set(REASONS)

    with pg_cluster.connect("school_owner") as conn:
        assert conn.execute("SELECT count(*) FROM reporting.grade_facts").fetchone()[0] == valid
        # Normalised values really are normalised.
        dirty = conn.execute(
            "SELECT count(*) FROM reporting.grade_facts WHERE email <> lower(btrim(email)) "
            "OR first_name <> btrim(first_name) OR course_code <> upper(course_code) "
            "OR country !~ '^[A-Z]{2}$' OR score_20 NOT BETWEEN 0 AND 20"
        ).fetchone()[0]
        assert dirty == 0
        # score_20 agrees with the source values.
        mismatch = conn.execute(
            "SELECT count(*) FROM reporting.grade_facts f JOIN school.grades g USING (grade_id) "
            "WHERE f.score_20 <> round(g.score / g.max_score * 20, 2)"
        ).fetchone()[0]
        assert mismatch == 0
        courses = conn.execute(
            "SELECT count(*), sum(grades) FROM reporting.course_summary"
        ).fetchone()
        assert courses[1] == valid
        assert courses[0] == len(summary["by_course"])
        last_run = conn.execute(
            "SELECT load_mode, rows_loaded, bad_rows FROM reporting.etl_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        assert last_run == ("copy", valid, total - valid)

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    # Every stage left its metrics, all successful.
    for stage in ("extract", "transform", "load", "report"):
        text = (etl_dirs["metrics"] / f"etl_{stage}.prom").read_text()
        assert f'etl_stage_last_run_success{{stage="{stage}"}} 1' in text
    assert f'etl_stage_bad_rows{{stage="transform"}} {total - valid}' in (
        etl_dirs["metrics"] / "etl_transform.prom"
    ).read_text()


def test_naive_load_gives_the_same_table(pg_cluster, etl_env, oracle):
    checksum = (
        "SELECT count(*), md5(string_agg(f::text, '|' ORDER BY grade_id)) FROM reporting.grade_facts f"
    )
    run_pipeline(etl_env)
    with pg_cluster.connect("school_owner") as conn:
        fast = conn.execute(checksum).fetchone()
    assert run("load", etl_env("etl_writer", ETL_LOAD_MODE="naive")) == EXIT_OK
    with pg_cluster.connect("school_owner") as conn:
        naive = conn.execute(checksum).fetchone()
        mode = conn.execute("SELECT load_mode FROM reporting.etl_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert fast == naive and fast[0] == oracle[1]["valid"]
    assert mode == ("naive",)


def test_rerun_replaces_outputs_atomically(etl_env, etl_dirs):
    run_pipeline(etl_env)
    out = etl_dirs["output"]
    expected_csv = (out / "grades.csv").read_bytes()
    expected_json = (out / "grades.json").read_bytes()
    inodes = {(out / "grades.csv").stat().st_ino}
    observations = []
    stop = threading.Event()

    def watch():
        # Every read during the re-run must see a complete, parseable file.
        while not stop.is_set():
            # (the re-run writes identical bytes, so equality == complete)
            same = (out / "grades.csv").read_bytes() == expected_csv
            same = same and (out / "grades.json").read_bytes() == expected_json
            observations.append(same)
            inodes.add((out / "grades.csv").stat().st_ino)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert run("load", etl_env("etl_writer", ETL_LOAD_DB="false")) == EXIT_OK
        assert run("load", etl_env("etl_writer", ETL_LOAD_DB="false")) == EXIT_OK
    finally:
        time.sleep(0.05)
        stop.set()
        watcher.join()
    assert observations and all(observations)
    assert len(inodes) >= 2  # the file really was replaced, not rewritten in place
    leftovers = [p for p in os.listdir(out) if p.startswith(".")]
    assert leftovers == []


def test_failed_run_leaves_previous_outputs(pg_cluster, etl_env, etl_dirs):
    run_pipeline(etl_env)
    work = etl_dirs["work"]
    before = (work / "transformed.csv").read_bytes()
    # An absurd threshold makes transform fail after it processed everything.
    assert run("transform", etl_env(ETL_MAX_BAD_RATIO="0.001")) == EXIT_BAD_ROWS
    assert (work / "transformed.csv").read_bytes() == before
    assert not [p for p in os.listdir(work) if p.startswith(".")]
    text = (etl_dirs["metrics"] / "etl_transform.prom").read_text()
    assert 'etl_stage_last_run_success{stage="transform"} 0' in text
    assert 'etl_stage_last_exit_code{stage="transform"} 7' in text
    # The counts of the failed run are still reported.
    assert f'etl_stage_rows_processed{{stage="transform"}} {pg_cluster.seed_rows}' in text
    # The last success of the earlier run is kept.
    success = [line for line in text.splitlines() if line.startswith("etl_stage_last_success_timestamp")]
    assert float(success[0].split()[-1]) > 0

    # A truncated hand-over file is detected, not half-loaded.
    lines = (work / "transformed.csv").read_bytes().splitlines(keepends=True)
    (work / "transformed.csv").write_bytes(b"".join(lines[:-10]))
    out_before = (etl_dirs["output"] / "grades.csv").read_bytes()
    assert run("load", etl_env("etl_writer")) == EXIT_INPUT
    assert (etl_dirs["output"] / "grades.csv").read_bytes() == out_before


def test_missing_input_and_unwritable_output(etl_env, etl_dirs, tmp_path):
    assert run("transform", etl_env()) == EXIT_INPUT  # nothing extracted yet
    assert run("load", etl_env("etl_writer")) == EXIT_INPUT
    assert run("report", etl_env()) == EXIT_INPUT
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    assert run("extract", etl_env(ETL_WORK_DIR=str(blocker / "work"))) == EXIT_OUTPUT


def test_report_includes_resource_snapshot(etl_env, etl_dirs, tmp_path):
    run_pipeline(etl_env)
    stats = tmp_path / "stats.jsonl"
    stats.write_text(
        json.dumps({"Name": "etl-load", "CPUPerc": "97.5%", "MemUsage": "41MiB / 512MiB",
                    "MemPerc": "8.0%", "NetIO": "1kB / 2kB", "BlockIO": "0B / 9MB", "PIDs": "1"})
        + "\n"
        + json.dumps({"Name": "<script>alert(1)</script>", "CPUPerc": "0.1%"})
        + "\n"
    )
    assert run("report", etl_env(ETL_REPORT_STATS_FILE=str(stats))) == EXIT_OK
    html = (etl_dirs["output"] / "report.html").read_text(encoding="utf-8")
    assert "Resource usage snapshot" in html and "etl-load" in html and "41MiB / 512MiB" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    # A missing snapshot is reported, not fatal.
    assert run("report", etl_env(ETL_REPORT_STATS_FILE=str(tmp_path / "absent.json"))) == EXIT_OK
    assert "Not available" in (etl_dirs["output"] / "report.html").read_text(encoding="utf-8")


def test_database_is_rolled_back_when_the_files_fail(pg_cluster, etl_env, etl_dirs):
    run_pipeline(etl_env)
    count_runs = "SELECT count(*) FROM reporting.etl_runs"
    with pg_cluster.connect("school_owner") as conn:
        runs_before = conn.execute(count_runs).fetchone()[0]
        facts_before = conn.execute("SELECT count(*) FROM reporting.grade_facts").fetchone()[0]
    work = etl_dirs["work"]
    text = (work / "transformed.csv").read_text(encoding="utf-8")
    # 't' is a valid boolean for PostgreSQL's COPY but not for the JSON
    # encoder: the database part succeeds, the file part fails.
    lines = text.splitlines(keepends=True)
    lines[-1] = lines[-1].replace(",true,", ",t,").replace(",false,", ",f,")
    (work / "transformed.csv").write_text("".join(lines), encoding="utf-8")
    assert run("load", etl_env("etl_writer")) == EXIT_INPUT
    with pg_cluster.connect("school_owner") as conn:
        assert conn.execute(count_runs).fetchone()[0] == runs_before
        assert conn.execute("SELECT count(*) FROM reporting.grade_facts").fetchone()[0] == facts_before


def test_database_only_load_and_its_metrics(pg_cluster, etl_env, etl_dirs):
    reader, writer = etl_env("etl_reader"), etl_env("etl_writer", ETL_LOAD_FILES="false")
    for stage, env in (("extract", reader), ("transform", reader), ("load", writer)):
        assert run(stage, env) == EXIT_OK
    assert sorted(os.listdir(etl_dirs["output"])) == ["summary.json"]
    summary = json.loads((etl_dirs["output"] / "summary.json").read_text())
    assert summary["load"]["files"] is False and summary["load"]["database_rows"] == summary["rows_valid"]
    text = (etl_dirs["metrics"] / "etl_load.prom").read_text()
    assert 'etl_stage_database_rows_per_second{stage="load"}' in text
    assert 'etl_stage_database_seconds{stage="load"}' in text
