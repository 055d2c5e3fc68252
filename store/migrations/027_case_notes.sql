-- Notes on a case (issue 14): who wrote what, when. Free text about the person: personal
-- data, erased with the case (store.erasure.PERSONAL_TABLES).
CREATE TABLE IF NOT EXISTS case_notes (
    note_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    text NOT NULL REFERENCES cases ON DELETE CASCADE,
    author_id  integer NOT NULL,
    written_at timestamptz NOT NULL,
    text       text NOT NULL CHECK (text <> '' AND length(text) <= 2000)
);
CREATE INDEX IF NOT EXISTS case_notes_case ON case_notes (case_id, note_id);
