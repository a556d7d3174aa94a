"""Row-level transformation rules (no database needed)."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl import cli
from etl.errors import EXIT_INPUT, EXIT_OK
from etl.extract import EXTRACT_COLUMNS
from etl.transform import (
    OUTPUT_COLUMNS,
    Transformer,
    age_at,
    age_band,
    mention,
    normalise_country,
    normalise_email,
    normalise_name,
)

GOOD = {
    "grade_id": "7",
    "enrolment_id": "4",
    "student_id": "2",
    "assessment": "Exam",
    "score": "33.50",
    "max_score": "100.00",
    "graded_at": "2024-01-19 17:30:00+00",
    "academic_year": "2023-2024",
    "semester": "1",
    "enrolment_status": "completed",
    "first_name": "  jean-PIERRE ",
    "last_name": "N'DIAYE",
    "email": " Jean-Pierre.NDiaye2@Etu.Univ-Lyon.FR",
    "birth_date": "2004-01-20",
    "country": " france",
    "course_code": " inf-107",
    "course_title": "Bases  de données",
    "department": "Informatique",
    "credits": "5",
}


def row(**changes):
    values = dict(GOOD, **changes)
    return [values[c] for c in EXTRACT_COLUMNS]


def test_valid_row_is_normalised_and_enriched():
    out, reason = Transformer().transform(row())
    assert reason is None
    record = dict(zip(OUTPUT_COLUMNS, out))
    assert record["first_name"] == "Jean-Pierre"
    assert record["last_name"] == "N'Diaye"
    assert record["email"] == "jean-pierre.ndiaye2@etu.univ-lyon.fr"
    assert record["country"] == "FR"
    assert record["course_code"] == "INF-107"
    assert record["course_title"] == "Bases de données"
    assert record["assessment"] == "exam"
    # Born 2004-01-20, graded 2024-01-19: still 19.
    assert record["age"] == "19" and record["age_band"] == "18-20"
    assert record["score_20"] == "6.70" and record["passed"] == "false"
    assert record["mention"] == "Ajourné"
    assert record["graded_at"] == "2024-01-19 17:30:00+00"


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"score": ""}, "missing_score"),
        ({"max_score": ""}, "invalid_max_score"),
        ({"max_score": "0.00"}, "invalid_max_score"),
        ({"score": "-1.50"}, "score_out_of_range"),
        ({"score": "103.00"}, "score_out_of_range"),
        ({"score": "abc"}, "score_out_of_range"),
        ({"graded_at": ""}, "invalid_graded_at"),
        ({"graded_at": "yesterday"}, "invalid_graded_at"),
        ({"first_name": "   "}, "missing_name"),
        ({"last_name": ""}, "missing_name"),
        ({"email": "jean_at_example.edu"}, "invalid_email"),
        ({"email": ""}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
        ({"birth_date": ""}, "invalid_birth_date"),
        ({"birth_date": "2031-05-01"}, "invalid_birth_date"),
        ({"birth_date": "1900-01-01"}, "invalid_birth_date"),
        ({"birth_date": "2015-01-01"}, "invalid_birth_date"),  # 9 years old
        # The first failing rule decides.
        ({"score": "", "email": "bad"}, "missing_score"),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason(changes, reason):
    assert Transformer().transform(row(**changes)) == (None, reason)


def test_student_cache_does_not_leak_between_students():
    transformer = Transformer()
    assert transformer.transform(row(student_id="1", email="bad"))[1] == "invalid_email"
    assert transformer.transform(row(student_id="2"))[1] is None
    assert transformer.transform(row(student_id="1"))[1] == "invalid_email"  # cached


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  jean-PIERRE ", "Jean-Pierre"),
        ("LE   GALL", "Le Gall"),
        ("n'diaye", "N'Diaye"),
        ("élodie", "Élodie"),
        ("MÜLLER", "Müller"),
        ("", ""),
    ],
)
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_normalise_name_is_idempotent_and_trimmed(raw):
    once = normalise_name(raw)
    assert normalise_name(once) == once
    assert once == once.strip() and "  " not in once


def test_normalise_email_and_country():
    assert normalise_email(" A.B@Example.ORG ") == "a.b@example.org"
    assert normalise_email("a b@example.org") is None
    assert normalise_country(" fr") == "FR"
    assert normalise_country("Belgique") == "BE"
    assert normalise_country("Atlantis") == ""
    assert normalise_country("") == ""


@pytest.mark.parametrize(
    "birth, when, age",
    [
        (date(2000, 2, 29), date(2021, 2, 28), 20),
        (date(2000, 2, 29), date(2021, 3, 1), 21),
        (date(2000, 6, 15), date(2020, 6, 15), 20),
    ],
)
def test_age_at(birth, when, age):
    assert age_at(birth, when) == age


def test_age_bands_and_mentions():
    assert [age_band(a) for a in (14, 17, 18, 20, 21, 24, 25, 29, 30, 39, 40, 99)] == [
        "<18", "<18", "18-20", "18-20", "21-24", "21-24", "25-29", "25-29", "30-39", "30-39", "40+", "40+",
    ]
    assert [mention(s) for s in (20, 16, 15.99, 14, 12, 10, 9.99, 0)] == [
        "Très bien", "Très bien", "Bien", "Bien", "Assez bien", "Passable", "Ajourné", "Ajourné",
    ]


@given(
    score=st.decimals(min_value=0, max_value=100, places=2),
    max_score=st.sampled_from(["20.00", "100.00", "10.00"]),
)
def test_score_20_is_within_bounds(score, max_score):
    if score > float(max_score):
        return
    out, reason = Transformer().transform(row(score=str(score), max_score=max_score))
    assert reason is None
    score_20 = float(out[OUTPUT_COLUMNS.index("score_20")])
    assert 0.0 <= score_20 <= 20.0
    assert out[OUTPUT_COLUMNS.index("passed")] == ("true" if score_20 >= 10 else "false")
    assert out[OUTPUT_COLUMNS.index("mention")] == mention(score_20)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2024-01-19 17:30:00+00", "2024-01-19 17:30:00+00"),
        ("2024-01-19 18:30:00+01", "2024-01-19 17:30:00+00"),
        ("2024-01-19T17:30:00", "2024-01-19 17:30:00+00"),
    ],
)
def test_graded_at_is_canonical_utc(raw, expected):
    out, _ = Transformer().transform(row(graded_at=raw))
    assert out[OUTPUT_COLUMNS.index("graded_at")] == expected


def _write_extract(work, rows, declared=None):
    with open(work / "extract.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXTRACT_COLUMNS)
        writer.writerows(rows)
    (work / "extract.meta.json").write_text(json.dumps({"rows": len(rows) if declared is None else declared}))


def test_transform_stage_files_and_counts(etl_dirs):
    work = etl_dirs["work"]
    _write_extract(work, [row(grade_id="1"), row(grade_id="2", score=""), row(grade_id="3", student_id="9", email="x")])
    env = {"ETL_WORK_DIR": str(work), "ETL_METRICS_DIR": str(etl_dirs["metrics"])}
    assert cli.main(["transform"], env=env) == EXIT_OK
    with open(work / "transformed.csv", newline="", encoding="utf-8") as handle:
        good = list(csv.reader(handle))
    with open(work / "rejects.csv", newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert good[0] == OUTPUT_COLUMNS and [r[0] for r in good[1:]] == ["1"]
    assert [(r["grade_id"], r["reason"]) for r in rejected] == [("2", "missing_score"), ("3", "invalid_email")]
    meta = json.loads((work / "transform.meta.json").read_text())
    assert (meta["rows_in"], meta["rows"], meta["bad_rows"]) == (3, 1, 2)
    assert meta["by_course"][0]["course_code"] == "INF-107"


def test_transform_detects_truncated_or_foreign_input(etl_dirs):
    work = etl_dirs["work"]
    env = {"ETL_WORK_DIR": str(work), "ETL_METRICS_DIR": ""}
    _write_extract(work, [row()], declared=5)  # manifest says 5, file holds 1
    assert cli.main(["transform"], env=env) == EXIT_INPUT
    assert not (work / "transformed.csv").exists()
    (work / "extract.csv").write_text("a,b,c\n1,2,3\n")
    (work / "extract.meta.json").write_text('{"rows": 1}')
    assert cli.main(["transform"], env=env) == EXIT_INPUT


def test_json_encoding_matches_the_json_module():
    from etl.load import encode_row

    out, _ = Transformer().transform(row(first_name='Zoé "la" \\ Quote', country=""))
    decoded = json.loads(encode_row(out))
    assert list(decoded) == OUTPUT_COLUMNS
    assert decoded["first_name"] == 'Zoé "la" \\ Quote'
    assert decoded["country"] is None and decoded["passed"] is False
    assert decoded["grade_id"] == 7 and decoded["score"] == 33.5 and decoded["score_20"] == 6.7
    bad = list(out)
    bad[OUTPUT_COLUMNS.index("score")] = "1e400"
    with pytest.raises(ValueError):
        encode_row(bad)
