"""Transform stage: filter invalid rows, normalise and enrich the rest.

Reads ``extract.csv`` row by row and writes ``transformed.csv`` (valid rows,
columns of reporting.grade_facts), ``rejects.csv`` (invalid rows with the
reason) and ``transform.meta.json`` (counts and aggregates).  Memory is
bounded: rows are streamed; the only state is per-course / per-age-band
aggregates and a bounded cache of normalised students.

Rules (the first failing one is the row's reason):
  missing_score       score empty
  invalid_max_score   max_score empty, not a number or <= 0
  score_out_of_range  score not a number, < 0 or > max_score
  invalid_graded_at   graded_at empty or not a timestamp
  missing_name        first or last name empty after trimming
  invalid_email       e-mail empty or not local@domain.tld after trim/lower
  invalid_birth_date  birth date empty, not a date, or age at grading
                      outside 14..99 (e.g. a birth date in the future)
Normalisation: names trimmed, inner spaces collapsed, capitalised per word
part ("  jean-PIERRE " -> "Jean-Pierre", "N'DIAYE" -> "N'Diaye"); e-mail
trimmed and lower-cased; country upper-cased ISO alpha-2 (a few country
names are mapped, anything else becomes empty/NULL); course code trimmed
and upper-cased; timestamps as UTC "YYYY-MM-DD HH:MM:SS+00" (ISO 8601 /
RFC 3339 with a space, PostgreSQL's own text form).
Enrichment: age at grading and age band, score on /20 (score_20), passed
(score_20 >= 10), French mention; per-course, per-department and per-age
band averages and pass rates in the manifest.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import time
from datetime import date, datetime, timezone
from typing import Dict, List, Optional, Tuple, Union

from etl.atomic import AtomicGroup, write_json
from etl.config import Settings
from etl.errors import InputError, OutputError, TooManyBadRows
from etl.extract import EXTRACT_COLUMNS, EXTRACT_FILE, EXTRACT_META
from etl.stage import StageResult, read_meta, require_file

log = logging.getLogger("etl.transform")

TRANSFORMED_FILE = "transformed.csv"
REJECTS_FILE = "rejects.csv"
TRANSFORM_META = "transform.meta.json"

# Column order of transformed.csv == reporting.grade_facts.
OUTPUT_COLUMNS = [
    "grade_id",
    "enrolment_id",
    "student_id",
    "first_name",
    "last_name",
    "email",
    "country",
    "birth_date",
    "age",
    "age_band",
    "course_code",
    "course_title",
    "department",
    "credits",
    "academic_year",
    "semester",
    "enrolment_status",
    "assessment",
    "score",
    "max_score",
    "score_20",
    "passed",
    "mention",
    "graded_at",
]

REASONS = (
    "missing_score",
    "invalid_max_score",
    "score_out_of_range",
    "invalid_graded_at",
    "missing_name",
    "invalid_email",
    "invalid_birth_date",
)

AGE_BANDS = ((17, "<18"), (20, "18-20"), (24, "21-24"), (29, "25-29"), (39, "30-39"))
OLDEST_BAND = "40+"
AGE_BAND_ORDER = [label for _, label in AGE_BANDS] + [OLDEST_BAND]
MIN_AGE, MAX_AGE = 14, 99

MENTIONS = ((16.0, "Très bien"), (14.0, "Bien"), (12.0, "Assez bien"), (10.0, "Passable"))
FAIL_MENTION = "Ajourné"

COUNTRY_NAMES = {
    "FRANCE": "FR",
    "BELGIQUE": "BE",
    "BELGIUM": "BE",
    "SUISSE": "CH",
    "SWITZERLAND": "CH",
    "ALLEMAGNE": "DE",
    "GERMANY": "DE",
    "ESPAGNE": "ES",
    "SPAIN": "ES",
    "ITALIE": "IT",
    "ITALY": "IT",
    "MAROC": "MA",
    "MOROCCO": "MA",
    "SENEGAL": "SN",
    "SÉNÉGAL": "SN",
    "TUNISIE": "TN",
    "TUNISIA": "TN",
}

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_WORD_PART_RE = re.compile(r"([-'’])")
STUDENT_CACHE_MAX = 10000


def normalise_name(value: str) -> str:
    """'  jean-PIERRE ' -> 'Jean-Pierre', "N'DIAYE" -> "N'Diaye"."""
    words = []
    for word in value.split():
        parts = _WORD_PART_RE.split(word)
        words.append("".join(_capitalise(p) for p in parts))
    return " ".join(words)


def _capitalise(part: str) -> str:
    first = part[:1]
    upper = first.upper()
    # 'ß'.upper() == 'SS': keep such letters as they are (stable result).
    return (upper if len(upper) == 1 else first) + part[1:].lower()


def normalise_email(value: str) -> Optional[str]:
    email = value.strip().lower()
    return email if _EMAIL_RE.match(email) else None


def normalise_country(value: str) -> str:
    country = " ".join(value.split()).upper()
    country = COUNTRY_NAMES.get(country, country)
    return country if _COUNTRY_RE.match(country) else ""


def age_at(birth: date, when: date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def age_band(age: int) -> str:
    for upper, label in AGE_BANDS:
        if age <= upper:
            return label
    return OLDEST_BAND


def mention(score_20: float) -> str:
    for threshold, label in MENTIONS:
        if score_20 >= threshold:
            return label
    return FAIL_MENTION


def parse_timestamp(value: str) -> Optional[datetime]:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _agg_dict(n: int, total: float, passed: int) -> Dict[str, float]:
    return {
        "grades": n,
        "avg_score_20": round(total / n, 2) if n else 0.0,
        "pass_rate": round(passed / n, 4) if n else 0.0,
    }


# Column positions in extract.csv (hot path: no dict lookups per field).
(_GRADE_ID, _ENROLMENT_ID, _STUDENT_ID, _ASSESSMENT, _SCORE, _MAX_SCORE, _GRADED_AT,
 _ACADEMIC_YEAR, _SEMESTER, _STATUS, _FIRST_NAME, _LAST_NAME, _EMAIL, _BIRTH_DATE,
 _COUNTRY, _COURSE_CODE, _COURSE_TITLE, _DEPARTMENT, _CREDITS) = range(len(EXTRACT_COLUMNS))
_BAND_BY_AGE = [age_band(age) for age in range(MAX_AGE + 1)]

Student = Union[str, Tuple[str, str, str, str, date, str]]


class Transformer:
    """Row-level logic; kept free of I/O so it can be unit-tested.

    Aggregates are kept per (course, age band) only -- a few hundred keys at
    most -- and the per-course, per-department, per-age-band and overall
    figures are derived from them at the end.
    """

    def __init__(self) -> None:
        self.students: Dict[str, Student] = {}
        self.courses: Dict[Tuple[str, str, str, str], Tuple[str, str, str, str]] = {}
        self.bad_by_reason: Dict[str, int] = {reason: 0 for reason in REASONS}
        # (course_code, age_band) -> [grades, sum of score_20, passed]
        self.cells: Dict[Tuple[str, str], List[float]] = {}
        self.course_info: Dict[str, Tuple[str, str]] = {}
        self.by_mention: Dict[str, int] = {m: 0 for _, m in MENTIONS}
        self.by_mention[FAIL_MENTION] = 0

    def _student(self, row: List[str]) -> Student:
        key = row[_STUDENT_ID]
        cached = self.students.get(key)
        if cached is not None:
            return cached
        first = normalise_name(row[_FIRST_NAME])
        last = normalise_name(row[_LAST_NAME])
        email = normalise_email(row[_EMAIL])
        result: Student
        if not first or not last:
            result = "missing_name"
        elif email is None:
            result = "invalid_email"
        else:
            try:
                birth = date.fromisoformat(row[_BIRTH_DATE])
            except ValueError:
                result = "invalid_birth_date"
            else:
                result = (first, last, email, normalise_country(row[_COUNTRY]), birth, birth.isoformat())
        if len(self.students) >= STUDENT_CACHE_MAX:
            self.students.clear()
        self.students[key] = result
        return result

    def _course(self, row: List[str]) -> Tuple[str, str, str, str]:
        key = (row[_COURSE_CODE], row[_COURSE_TITLE], row[_DEPARTMENT], row[_CREDITS])
        cached = self.courses.get(key)
        if cached is None:
            credits = key[3].strip()
            cached = (
                key[0].strip().upper(),
                " ".join(key[1].split()),
                " ".join(key[2].split()),
                str(int(credits)) if credits.isdigit() else "0",
            )
            self.courses[key] = cached
            self.course_info.setdefault(cached[0], (cached[1], cached[2]))
        return cached

    def transform(self, row: List[str]) -> Tuple[Optional[List[str]], Optional[str]]:
        """Returns (output_row, None) or (None, reason)."""
        score_s = row[_SCORE]
        if not score_s:
            return None, "missing_score"
        try:
            max_score = float(row[_MAX_SCORE])
        except ValueError:
            return None, "invalid_max_score"
        if not max_score > 0:
            return None, "invalid_max_score"
        try:
            score = float(score_s)
        except ValueError:
            return None, "score_out_of_range"
        if not 0.0 <= score <= max_score:
            return None, "score_out_of_range"
        graded_s = row[_GRADED_AT]
        graded = parse_timestamp(graded_s)
        if graded is None:
            return None, "invalid_graded_at"
        # PostgreSQL's UTC text form is already canonical: keep it as is.
        if not (len(graded_s) == 22 and graded_s.endswith("+00")):
            graded_s = graded.strftime("%Y-%m-%d %H:%M:%S+00")
        student = self._student(row)
        if student.__class__ is str:
            return None, student  # type: ignore[return-value]
        first, last, email, country, birth, birth_iso = student  # type: ignore[misc]
        when = graded.date()
        age = when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
        if not MIN_AGE <= age <= MAX_AGE:
            return None, "invalid_birth_date"
        code, title, department, credits = self._course(row)
        score_20 = round(score / max_score * 20.0, 2)
        passed = score_20 >= 10.0
        band = _BAND_BY_AGE[age]
        if score_20 >= 16.0:
            label = "Très bien"
        elif score_20 >= 14.0:
            label = "Bien"
        elif score_20 >= 12.0:
            label = "Assez bien"
        elif passed:
            label = "Passable"
        else:
            label = FAIL_MENTION
        cell = self.cells.get((code, band))
        if cell is None:
            cell = self.cells[(code, band)] = [0, 0.0, 0]
        cell[0] += 1
        cell[1] += score_20
        cell[2] += passed
        self.by_mention[label] += 1
        return [
            row[_GRADE_ID],
            row[_ENROLMENT_ID],
            row[_STUDENT_ID],
            first,
            last,
            email,
            country,
            birth_iso,
            str(age),
            band,
            code,
            title,
            department,
            credits,
            row[_ACADEMIC_YEAR].strip(),
            row[_SEMESTER],
            row[_STATUS].strip().lower(),
            row[_ASSESSMENT].strip().lower(),
            "%.2f" % score,
            "%.2f" % max_score,
            "%.2f" % score_20,
            "true" if passed else "false",
            label,
            graded_s,
        ], None

    def summary(self) -> Dict[str, object]:
        courses: Dict[str, List[float]] = {}
        departments: Dict[str, List[float]] = {}
        bands: Dict[str, List[float]] = {band: [0, 0.0, 0] for band in AGE_BAND_ORDER}
        overall = [0, 0.0, 0]
        for (code, band), (n, total, passed) in self.cells.items():
            department = self.course_info[code][1]
            for acc in (
                courses.setdefault(code, [0, 0.0, 0]),
                departments.setdefault(department, [0, 0.0, 0]),
                bands[band],
                overall,
            ):
                acc[0] += n
                acc[1] += total
                acc[2] += passed
        return {
            "bad_by_reason": dict(self.bad_by_reason),
            "overall": _agg_dict(*overall),
            "by_course": [
                {"course_code": code, "course_title": self.course_info[code][0],
                 "department": self.course_info[code][1], **_agg_dict(*acc)}
                for code, acc in sorted(courses.items())
            ],
            "by_department": [
                {"department": dept, **_agg_dict(*acc)} for dept, acc in sorted(departments.items())
            ],
            "by_age_band": [{"age_band": band, **_agg_dict(*bands[band])} for band in AGE_BAND_ORDER],
            "by_mention": dict(self.by_mention),
        }


def run(settings: Settings) -> StageResult:
    source = os.path.join(settings.work_dir, EXTRACT_FILE)
    meta = read_meta(os.path.join(settings.work_dir, EXTRACT_META), "extract")
    require_file(source, "extract")
    started = time.time()
    transformer = Transformer()
    rows_in = good = bad = 0
    try:
        handle = open(source, encoding="utf-8", newline="", buffering=1 << 20)
    except OSError as exc:
        raise InputError(f"{source} cannot be read: {exc.strerror or exc}") from exc
    with handle, AtomicGroup() as group:
        out_file = group.open(os.path.join(settings.work_dir, TRANSFORMED_FILE), newline="")
        rej_file = group.open(os.path.join(settings.work_dir, REJECTS_FILE), newline="")
        reader = csv.reader(handle)
        writer = csv.writer(out_file.file, lineterminator="\n")
        rejects = csv.writer(rej_file.file, lineterminator="\n")
        try:
            header = next(reader)
        except StopIteration as exc:
            raise InputError(f"{source} is empty (no header)") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{source} is not valid CSV: {exc}") from exc
        if header != EXTRACT_COLUMNS:
            raise InputError(f"{source} has unexpected columns: {header[:5]}...")
        writer.writerow(OUTPUT_COLUMNS)
        rejects.writerow(EXTRACT_COLUMNS + ["reason"])
        width = len(EXTRACT_COLUMNS)
        transform = transformer.transform
        write = writer.writerow
        bad_by_reason = transformer.bad_by_reason
        try:
            for row in reader:
                rows_in += 1
                if len(row) != width:
                    raise InputError(f"{source} line {reader.line_num}: {len(row)} fields, expected {width}")
                out, reason = transform(row)
                if out is not None:
                    write(out)
                    good += 1
                else:
                    bad += 1
                    bad_by_reason[reason] += 1
                    rejects.writerow(row + [reason])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{source} line {reader.line_num}: not valid CSV: {exc}") from exc
        except OSError as exc:
            raise OutputError(f"cannot write to {settings.work_dir}: {exc.strerror or exc}") from exc
        if rows_in != meta["rows"]:
            raise InputError(
                f"{source} holds {rows_in} rows but the extract manifest says {meta['rows']}: "
                "the file is truncated or stale, run extract again"
            )
        ratio = bad / rows_in if rows_in else 0.0
        if ratio > settings.max_bad_ratio:
            error = TooManyBadRows(
                f"{bad} of {rows_in} rows are invalid ({ratio:.2%} > ETL_MAX_BAD_RATIO="
                f"{settings.max_bad_ratio:g}); previous outputs left untouched"
            )
            error.result = StageResult(rows=rows_in, bad_rows=bad)
            raise error
        group.publish()
    finished = time.time()
    summary = transformer.summary()
    write_json(
        os.path.join(settings.work_dir, TRANSFORM_META),
        {
            "stage": "transform",
            "rows": good,
            "rows_in": rows_in,
            "bad_rows": bad,
            "columns": OUTPUT_COLUMNS,
            "file": TRANSFORMED_FILE,
            "rejects_file": REJECTS_FILE,
            "started_at": started,
            "finished_at": finished,
            **summary,
        },
    )
    reasons = " ".join(f"{k}={v}" for k, v in transformer.bad_by_reason.items() if v)
    log.info(
        "transformed rows_in=%d rows_out=%d bad_rows=%d seconds=%.3f %s",
        rows_in, good, bad, finished - started, reasons,
    )
    return StageResult(rows=rows_in, bad_rows=bad)
