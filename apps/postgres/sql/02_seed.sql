-- Deterministic seed data for the school schema.  Included by init.sql (psql
-- variable :seed_rows, from env SEED_ROWS); run as the database owner.
--
-- Size knob: seed_rows = number of rows in school.grades (the ETL's unit of
-- work).  The other tables scale with it:
--   enrolments = ceil(seed_rows / 2)   (an exam and a project per enrolment)
--   students   = max(10, seed_rows / 20)
--   courses    = clamp(seed_rows / 2000, 12, 240)
-- so 100000 (the default) gives ~155k rows in total, 1000000 ~1.55M.
--
-- No random(): every value is a pure function of the row number through
-- hashint8extended(), so two initialisations with the same seed_rows give
-- byte-identical tables.
--
-- The data is deliberately dirty, so the ETL's filters and normalisation have
-- something to do.  Invalid rows (each counted by the ETL under one reason):
--   grades:   score NULL (i % 101), negative score (i % 499),
--             score > max_score (i % 613), max_score = 0 (i % 1009),
--             graded_at NULL (i % 1201)
--   students: empty first name (i % 997), NULL last name (i % 991),
--             malformed e-mail (i % 211), NULL e-mail (i % 307),
--             birth date in the future (i % 401), NULL birth date (i % 503)
-- Messy-but-valid values that must be normalised: names in upper/lower case
-- with stray spaces, upper-case e-mails with a leading space, lower-case
-- country codes or country names, lower-case course codes.

\if :{?seed_rows}
\else
\set seed_rows 100000
\endif

SELECT :'seed_rows' ~ '^[0-9]{1,9}$' AS seed_rows_ok \gset
\if :seed_rows_ok
\else
\warn 'SEED_ROWS must be a non-negative integer (at most 9 digits)'
DO $$ BEGIN RAISE EXCEPTION 'invalid SEED_ROWS'; END $$;
\endif

SELECT (:'seed_rows')::integer AS n_grades,
       greatest((:'seed_rows')::integer / 20, 10) AS n_students,
       greatest(12, least(240, (:'seed_rows')::integer / 2000)) AS n_courses,
       ((:'seed_rows')::integer + 1) / 2 AS n_enrolments \gset

\echo 'seeding' :n_grades 'grades,' :n_enrolments 'enrolments,' :n_students 'students,' :n_courses 'courses'

-- Uniform pseudo-random number in [0, 1) derived from (i, salt).
CREATE FUNCTION pg_temp.rnd(i bigint, salt integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (hashint8extended(i, salt) & 4294967295)::double precision / 4294967296.0;

INSERT INTO school.courses (course_id, code, title, department, credits)
SELECT c.i,
       CASE WHEN c.i % 7 = 0 THEN ' ' || lower(d.prefix) || '-' || (100 + c.i)
            ELSE d.prefix || '-' || (100 + c.i) END,
       (ARRAY[
           ['Algorithmique', 'Bases de données', 'Réseaux', 'Systèmes d''exploitation', 'Programmation web'],
           ['Analyse', 'Algèbre linéaire', 'Probabilités', 'Statistiques', 'Optimisation'],
           ['Mécanique', 'Électromagnétisme', 'Thermodynamique', 'Optique', 'Physique quantique'],
           ['Microéconomie', 'Macroéconomie', 'Économétrie', 'Finance', 'Économie du développement'],
           ['Anglais', 'Espagnol', 'Allemand', 'Communication écrite', 'Chinois'],
           ['Comptabilité', 'Marketing', 'Gestion de projet', 'Droit des affaires', 'Ressources humaines']
       ])[d.k][1 + (c.i / 6) % 5]
           || CASE WHEN c.i > 30 THEN ' ' || (1 + (c.i - 1) / 30) ELSE '' END,
       d.name,
       (2 + floor(pg_temp.rnd(c.i, 30) * 5))::smallint
FROM generate_series(1, :n_courses) AS c(i)
CROSS JOIN LATERAL (
    SELECT 1 + c.i % 6 AS k,
           (ARRAY['INF', 'MAT', 'PHY', 'ECO', 'LAN', 'GES'])[1 + c.i % 6] AS prefix,
           (ARRAY['Informatique', 'Mathématiques', 'Physique', 'Économie',
                  'Langues', 'Gestion'])[1 + c.i % 6] AS name
) AS d;

INSERT INTO school.students
    (student_id, first_name, last_name, email, birth_date, country, enrolled_on)
SELECT s.i,
       CASE WHEN s.i % 997 = 0 THEN ''
            WHEN s.i % 97 = 0 THEN '  ' || upper(p.fn) || ' '
            WHEN s.i % 89 = 0 THEN lower(p.fn)
            ELSE p.fn END,
       CASE WHEN s.i % 991 = 0 THEN NULL
            WHEN s.i % 83 = 0 THEN lower(p.ln) || '  '
            WHEN s.i % 79 = 0 THEN upper(p.ln)
            ELSE p.ln END,
       CASE WHEN s.i % 211 = 0 THEN m.local_part || '_at_' || p.domain
            WHEN s.i % 307 = 0 THEN NULL
            WHEN s.i % 53 = 0 THEN ' ' || upper(m.local_part || '@' || p.domain)
            ELSE m.local_part || '@' || p.domain END,
       CASE WHEN s.i % 401 = 0 THEN date '2031-01-01' + s.i % 365
            WHEN s.i % 503 = 0 THEN NULL
            -- 1970-01-01 .. 2004-12-31: everyone is 14+ when graded (2020+)
            ELSE date '1970-01-01' + floor(pg_temp.rnd(s.i, 4) * 12784)::integer END,
       p.country,
       date '2018-09-01' + floor(pg_temp.rnd(s.i, 6) * 2190)::integer
FROM generate_series(1, :n_students) AS s(i)
CROSS JOIN LATERAL (
    SELECT (ARRAY['Camille', 'Léa', 'Manon', 'Chloé', 'Emma', 'Inès', 'Jade', 'Louise',
                  'Élodie', 'Gaëlle', 'Sarah', 'Zoé', 'Aïcha', 'Fatou', 'Mariam', 'Julie',
                  'Lucas', 'Hugo', 'Louis', 'Nathan', 'Gabriel', 'Jules', 'Arthur', 'Mathis',
                  'Noël', 'Jean-Pierre', 'Marc-Antoine', 'Karim', 'Mamadou', 'Yanis',
                  'Thomas', 'Théo', 'Antoine', 'Maxime', 'Paul', 'Amine', 'Omar', 'Samuel',
                  'François', 'Loïc'])[1 + floor(pg_temp.rnd(s.i, 1) * 40)::integer] AS fn,
           (ARRAY['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit',
                  'Durand', 'Leroy', 'Moreau', 'Simon', 'Laurent', 'Lefèvre', 'Michel',
                  'Garcia', 'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel',
                  'Girard', 'André', 'Mercier', 'Dupont', 'Lambert', 'Bonnet', 'François',
                  'Martinez', 'Le Gall', 'N''Diaye', 'Diallo', 'Benali', 'Da Silva',
                  'Nguyen', 'Müller', 'Faure', 'Rousseau', 'Blanc', 'Guérin'])
               [1 + floor(pg_temp.rnd(s.i, 2) * 40)::integer] AS ln,
           (ARRAY['etu.univ-lyon.fr', 'etu.u-paris.fr', 'student.example.edu',
                  'mail.example.org'])[1 + floor(pg_temp.rnd(s.i, 3) * 4)::integer] AS domain,
           (ARRAY['FR', 'FR', 'FR', 'FR', 'FR', 'FR', 'fr', ' FR', 'France', 'BE', 'Belgique',
                  'CH', 'CA', 'MA', 'SN', 'TN', 'DE', 'ES', 'IT', NULL])
               [1 + floor(pg_temp.rnd(s.i, 5) * 20)::integer] AS country
) AS p
CROSS JOIN LATERAL (
    SELECT translate(lower(p.fn || '.' || p.ln), 'éèêëàâäîïôöûüùçñ'' ',
                     'eeeeaaaiioouuucn') || s.i AS local_part
) AS m;

INSERT INTO school.enrolments
    (enrolment_id, student_id, course_id, academic_year, semester, status, enrolled_at)
SELECT e.i,
       1 + ((e.i - 1)::bigint * :n_students / greatest(:n_enrolments, 1))::integer,
       1 + floor(pg_temp.rnd(e.i, 10) * :n_courses)::integer,
       y.year || '-' || (y.year + 1),
       y.semester,
       CASE WHEN y.r < 0.05 THEN 'dropped'
            WHEN y.r < 0.10 THEN 'in_progress'
            ELSE 'completed' END,
       make_date(y.year + y.semester - 1, CASE y.semester WHEN 1 THEN 9 ELSE 2 END, 1)
           + floor(pg_temp.rnd(e.i, 14) * 20)::integer
FROM generate_series(1, :n_enrolments) AS e(i)
CROSS JOIN LATERAL (
    SELECT 2019 + floor(pg_temp.rnd(e.i, 11) * 6)::integer AS year,
           1 + (pg_temp.rnd(e.i, 12) >= 0.5)::integer AS semester,
           pg_temp.rnd(e.i, 13) AS r
) AS y;

-- Grades: same year/semester formulas as the enrolment they belong to (salts
-- 11 and 12 on the enrolment id), so graded_at falls in the right term.
INSERT INTO school.grades (grade_id, enrolment_id, assessment, score, max_score, graded_at)
SELECT g.i,
       x.enrolment_id,
       CASE WHEN g.i % 2 = 1 THEN 'exam' ELSE 'project' END,
       CASE WHEN g.i % 101 = 0 THEN NULL
            WHEN g.i % 499 = 0 THEN -1.5
            WHEN g.i % 613 = 0 THEN x.max_score + 3
            ELSE round((x.max_score * x.q * 2)::numeric) / 2 END,
       CASE WHEN g.i % 1009 = 0 THEN 0 ELSE x.max_score END,
       CASE WHEN g.i % 1201 = 0 THEN NULL
            ELSE make_timestamptz(x.year + 1, CASE x.semester WHEN 1 THEN 1 ELSE 6 END,
                                  8 + floor(pg_temp.rnd(g.i, 25) * 20)::integer,
                                  8 + floor(pg_temp.rnd(g.i, 26) * 10)::integer,
                                  15 * floor(pg_temp.rnd(g.i, 27) * 4)::integer, 0, 'UTC') END
FROM generate_series(1, :n_grades) AS g(i)
CROSS JOIN LATERAL (
    SELECT (g.i + 1) / 2 AS enrolment_id,
           2019 + floor(pg_temp.rnd((g.i + 1) / 2, 11) * 6)::integer AS year,
           1 + (pg_temp.rnd((g.i + 1) / 2, 12) >= 0.5)::integer AS semester,
           CASE WHEN pg_temp.rnd((g.i + 1) / 2, 20) < 0.15 THEN 100 ELSE 20 END AS max_score,
           -- ability of the student (same formula as enrolments.student_id)
           -- plus three draws for this assessment: roughly 12.5/20 on average
           least(1.0, 0.25
               + 0.35 * pg_temp.rnd(1 + (((g.i + 1) / 2 - 1)::bigint * :n_students
                                         / greatest(:n_enrolments, 1)), 40)
               + 0.4 * (pg_temp.rnd(g.i, 21) + pg_temp.rnd(g.i, 22) + pg_temp.rnd(g.i, 23)) / 3
           ) AS q
) AS x;

DROP FUNCTION pg_temp.rnd(bigint, integer);
