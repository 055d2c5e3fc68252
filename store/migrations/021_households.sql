-- Households (issue 13): the cases of a household's members, each obliged to leave, are linked
-- by the back office's household reference. The link says who lives with whom: personal data,
-- so it lives in a table of its own that erasure empties (store.erasure.PERSONAL_TABLES).
CREATE TABLE IF NOT EXISTS household_links (
    case_id   text PRIMARY KEY REFERENCES cases ON DELETE CASCADE,
    reference text NOT NULL CHECK (reference <> '')
);
CREATE INDEX IF NOT EXISTS household_links_reference ON household_links (reference);
