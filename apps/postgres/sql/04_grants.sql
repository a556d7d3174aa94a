-- Least-privilege grants.  Included by init.sql (psql variables :reader_role
-- and :writer_role); run as the database owner.
--
--   reader (ETL extract): SELECT on the source tables, nothing else.
--   writer (ETL load):    SELECT/INSERT/TRUNCATE on the reporting tables only;
--                         no access at all to the source schema, cannot
--                         create objects, cannot UPDATE/DELETE.
-- Neither can create anything in any schema (public is closed in init.sql).

REVOKE ALL ON SCHEMA school, reporting FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA school, reporting FROM PUBLIC;

GRANT USAGE ON SCHEMA school TO :"reader_role";
GRANT SELECT ON ALL TABLES IN SCHEMA school TO :"reader_role";

GRANT USAGE ON SCHEMA reporting TO :"writer_role";
GRANT SELECT, INSERT, TRUNCATE ON ALL TABLES IN SCHEMA reporting TO :"writer_role";
-- reporting.etl_runs has an identity column: inserting needs its sequence.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA reporting TO :"writer_role";
