-- The audit log: who did what, when, to which case. Append-only and tamper-evident.
--
-- Every entry carries the sha256 of its predecessor (prev_hash; 32 zero bytes for seq 1) and
-- its own hash: entry_hash = sha256(prev_hash || canonical serialisation of the entry), the
-- serialisation being defined once in schemas/audit.py (canonical_bytes). Changing, removing
-- or reordering an entry breaks the chain from there on; `python -m service.audit_cli verify`
-- names the first broken entry.
--
-- Entries are written by store/audit.py only, inside the transaction of the audited change,
-- under a transaction-level advisory lock, so seq is gapless and the chain never forks.
-- detail holds ids and states only, never personal data of the people in the cases.

CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,  -- a username, or a system actor ('accounts_cli', 'worker', ...)
    role        text NOT NULL,  -- the account's role, 'system' for system actors
    action      text NOT NULL,
    case_id     text,
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    -- UNIQUE: two entries can never claim the same predecessor, whoever writes them.
    prev_hash   bytea NOT NULL UNIQUE CHECK (octet_length(prev_hash) = 32),
    entry_hash  bytea NOT NULL CHECK (octet_length(entry_hash) = 32)
);
CREATE INDEX audit_log_case ON audit_log (case_id, seq) WHERE case_id IS NOT NULL;

-- The database itself refuses every change but INSERT. Per statement, so even an UPDATE or
-- DELETE that matches no row is refused, and TRUNCATE (which fires no row trigger) as well.
-- A superuser or the table's owner can still disable the trigger: the hash chain is what
-- makes that visible.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING HINT = 'Audit entries are never changed or removed; append a new entry instead.';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
