-- Initialise the "school" database: roles, database, schema, seed data and
-- least-privilege grants.  This is the single source of truth used both by
-- the image's entrypoint (first start only) and by the ETL test-suite.
--
-- Run it with psql (15+, it uses \getenv) as a superuser connected to the
-- maintenance database, passing everything through the environment so no
-- secret ever appears on a command line:
--
--   POSTGRES_DB=school POSTGRES_USER=school_owner \
--   POSTGRES_PASSWORD=... ETL_READER_PASSWORD=... ETL_WRITER_PASSWORD=... \
--   SEED_ROWS=100000 psql -X -q -v ON_ERROR_STOP=1 -d postgres -f init.sql
--
-- Environment read here (all optional except the three passwords):
--   POSTGRES_DB        database name                  (default school)
--   POSTGRES_USER      owner role of db and schemas   (default school_owner)
--   ETL_READER_USER    read-only extract role         (default etl_reader)
--   ETL_WRITER_USER    reporting writer role          (default etl_writer)
--   POSTGRES_PASSWORD, ETL_READER_PASSWORD, ETL_WRITER_PASSWORD
--   SEED_ROWS          number of grade rows to seed   (default 100000)

\set ON_ERROR_STOP on
\set QUIET on

\getenv db_name POSTGRES_DB
\getenv owner_role POSTGRES_USER
\getenv reader_role ETL_READER_USER
\getenv writer_role ETL_WRITER_USER
\getenv owner_password POSTGRES_PASSWORD
\getenv reader_password ETL_READER_PASSWORD
\getenv writer_password ETL_WRITER_PASSWORD
\getenv seed_rows SEED_ROWS

\if :{?db_name}
\else
\set db_name school
\endif
\if :{?owner_role}
\else
\set owner_role school_owner
\endif
\if :{?reader_role}
\else
\set reader_role etl_reader
\endif
\if :{?writer_role}
\else
\set writer_role etl_writer
\endif
\if :{?owner_password}
\else
\set owner_password ''
\endif
\if :{?reader_password}
\else
\set reader_password ''
\endif
\if :{?writer_password}
\else
\set writer_password ''
\endif

SELECT :'owner_password' <> '' AND :'reader_password' <> ''
       AND :'writer_password' <> '' AS passwords_ok \gset
\if :passwords_ok
\else
\warn 'init.sql: POSTGRES_PASSWORD, ETL_READER_PASSWORD and ETL_WRITER_PASSWORD must be set and non-empty'
DO $$ BEGIN RAISE EXCEPTION 'missing password(s), nothing was created'; END $$;
\endif

-- Passwords are hashed by the server (password_encryption = scram-sha-256,
-- the default of PostgreSQL 15); only the SCRAM verifier is stored.
SET password_encryption = 'scram-sha-256';

CREATE ROLE :"owner_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    NOREPLICATION NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE :"reader_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 20
    PASSWORD :'reader_password';
CREATE ROLE :"writer_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
    NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 20
    PASSWORD :'writer_password';

-- Nobody may use the template-created public defaults of this database.
CREATE DATABASE :"db_name" OWNER :"owner_role" TEMPLATE template0
    ENCODING 'UTF8' LOCALE 'C';
REVOKE ALL ON DATABASE :"db_name" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db_name" TO :"reader_role", :"writer_role";

\connect :"db_name"
\set ON_ERROR_STOP on
\set QUIET on

REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- Everything below is created by (and owned by) the owner role.
SET ROLE :"owner_role";
\ir 01_schema.sql
\ir 02_seed.sql
\ir 03_constraints.sql
\ir 04_grants.sql
RESET ROLE;
