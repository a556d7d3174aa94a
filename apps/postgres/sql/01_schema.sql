-- Source schema ("school": what a student information system holds) and the
-- reporting schema written by the ETL.  Included by init.sql; run as the
-- database owner.
--
-- The source tables deliberately have few CHECK constraints: they model a
-- legacy system whose data is dirty (missing scores, malformed e-mails,
-- impossible birth dates...).  Cleaning that up is the ETL's job.

CREATE SCHEMA school;
COMMENT ON SCHEMA school IS 'Source data (read by the ETL extract stage)';

CREATE TABLE school.students (
    student_id  integer PRIMARY KEY,
    first_name  text,
    last_name   text,
    email       text,
    birth_date  date,
    country     text,
    enrolled_on date NOT NULL
);

CREATE TABLE school.courses (
    course_id  integer PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    title      text NOT NULL,
    department text NOT NULL,
    credits    smallint NOT NULL
);

CREATE TABLE school.enrolments (
    enrolment_id  integer PRIMARY KEY,
    student_id    integer NOT NULL,
    course_id     integer NOT NULL,
    academic_year text NOT NULL,
    semester      smallint NOT NULL,
    status        text NOT NULL,
    enrolled_at   date NOT NULL
);

CREATE TABLE school.grades (
    grade_id     bigint PRIMARY KEY,
    enrolment_id integer NOT NULL,
    assessment   text NOT NULL,
    score        numeric(6, 2),
    max_score    numeric(6, 2),
    graded_at    timestamptz
);

CREATE SCHEMA reporting;
COMMENT ON SCHEMA reporting IS 'Cleaned, enriched data (written by the ETL load stage)';

-- One row per valid grade; column order = the ETL's transformed CSV header.
CREATE TABLE reporting.grade_facts (
    grade_id         bigint NOT NULL,
    enrolment_id     integer NOT NULL,
    student_id       integer NOT NULL,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    email            text NOT NULL,
    country          text,
    birth_date       date NOT NULL,
    age              smallint NOT NULL,
    age_band         text NOT NULL,
    course_code      text NOT NULL,
    course_title     text NOT NULL,
    department       text NOT NULL,
    credits          smallint NOT NULL,
    academic_year    text NOT NULL,
    semester         smallint NOT NULL,
    enrolment_status text NOT NULL,
    assessment       text NOT NULL,
    score            numeric(6, 2) NOT NULL,
    max_score        numeric(6, 2) NOT NULL,
    score_20         numeric(5, 2) NOT NULL,
    passed           boolean NOT NULL,
    mention          text NOT NULL,
    graded_at        timestamptz NOT NULL
);

CREATE TABLE reporting.course_summary (
    course_code  text PRIMARY KEY,
    course_title text NOT NULL,
    department   text NOT NULL,
    grades       integer NOT NULL,
    avg_score_20 numeric(5, 2) NOT NULL,
    pass_rate    numeric(5, 4) NOT NULL
);

CREATE TABLE reporting.etl_runs (
    run_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    load_mode        text NOT NULL,
    rows_loaded      bigint NOT NULL,
    bad_rows         bigint NOT NULL,
    duration_seconds numeric(12, 3) NOT NULL
);
