-- Data keys for payload encryption (protection/): one per case, plus one for payloads that
-- belong to no case ("system"). A key is stored only wrapped by a master key, which never
-- enters the database. Shredding sets ``wrapped`` to NULL: the row stays, so a payload
-- that names the key can be told apart as "erased" from one with an unknown key.

CREATE TABLE data_keys (
    key_id         text PRIMARY KEY,
    scope          text NOT NULL,          -- 'case:<case_id>' or 'system'
    wrapped        bytea,                  -- nonce || AES-256-GCM(master key, data key)
    master_key_id  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rewrapped_at   timestamptz,
    shredded_at    timestamptz,
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (master_key_id IS NULL))
);

-- One live key per scope; a shredded case's key stays beside a later one of the same id.
CREATE UNIQUE INDEX data_keys_live_scope ON data_keys (scope) WHERE shredded_at IS NULL;
CREATE INDEX data_keys_master ON data_keys (master_key_id) WHERE shredded_at IS NULL;

-- Erasure (crypto-shredding plus the personal rows): the case row stays with anonymous
-- figures (town, stage, outcome, dates) for reporting; what was erased, when and why is kept
-- in ``erasures``, without personal data.
ALTER TABLE cases
    ADD COLUMN erase_after       date,
    ADD COLUMN legal_hold        boolean NOT NULL DEFAULT false,
    ADD COLUMN legal_hold_reason text,
    ADD COLUMN erased_at         timestamptz;
CREATE INDEX cases_erase_due ON cases (erase_after) WHERE erased_at IS NULL;

CREATE TABLE erasures (
    case_id        text PRIMARY KEY REFERENCES cases,
    erased_at      timestamptz NOT NULL,
    reason         text NOT NULL,      -- 'retention' or 'manual'
    outcome        text,
    closed_at      timestamptz,
    keys_shredded  integer NOT NULL,
    rows_removed   jsonb NOT NULL      -- table name -> count
);
