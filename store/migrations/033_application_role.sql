-- Two database roles (docs/deployment.md, "Database roles"): the owner, who runs these
-- migrations and owns every table, and case_app, the role the API and the worker connect as
-- (a login role that is a member of it). case_app reads and writes rows and does nothing else:
-- no DDL (ALTER TABLE needs the owner, so it can neither alter the audit log nor disable its
-- append-only trigger), no TRUNCATE, no triggers of its own; on audit_log only SELECT and
-- INSERT (the same for report_facts, the committee report's append-only facts), so an UPDATE
-- or DELETE is refused by the privileges before the trigger refuses it.
--
-- The role is made here when it does not exist (the embedded setup, where migrations run as
-- the superuser); a deployment makes it beforehand, with its login role
-- (deploy/postgres/init-roles.sh), since the owner may not create roles.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'case_app') THEN
        CREATE ROLE case_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- made meanwhile by a migration of another database on the same server
END;
$$;

GRANT USAGE ON SCHEMA public TO case_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO case_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO case_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO case_app;

-- Tables and sequences later migrations create (always as the owner, who runs them all).
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO case_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO case_app;

-- The audit log and the report's facts are appended to, never changed; the bookkeeping of
-- migrations is the owner's.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM case_app;
REVOKE UPDATE, DELETE, TRUNCATE ON report_facts FROM case_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM case_app;
