-- Attachments on a case (issue 14): the signed consent, a border crossing certificate
-- (Grenzübertrittsbescheinigung) or another paper, as PDF, JPEG or PNG. The file is stored
-- sealed with the case's own data key (AES-256-GCM, nonce first; the key id beside it; the case
-- and the attachment bound in as associated data), so shredding the case's key leaves it
-- unreadable in every backup as well; the row goes with the case's personal rows
-- (store.erasure.PERSONAL_TABLES). The file's name on the uploader's computer is not kept.
CREATE TABLE IF NOT EXISTS case_attachments (
    attachment_id  uuid PRIMARY KEY,
    case_id        text NOT NULL REFERENCES cases ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('consent', 'border_crossing', 'other')),
    description    text CHECK (description <> '' AND length(description) <= 200),
    content_type   text NOT NULL
        CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes     integer NOT NULL CHECK (size_bytes > 0),
    key_id         text NOT NULL REFERENCES data_keys,
    sealed         bytea NOT NULL,
    uploaded_by    integer NOT NULL,
    uploader_role  text NOT NULL CHECK (uploader_role IN ('abh', 'ki')),
    uploaded_at    timestamptz NOT NULL
);
-- Ciphertext does not compress: no pglz on every insert (as for the PDFs, migration 014).
ALTER TABLE case_attachments ALTER COLUMN sealed SET STORAGE EXTERNAL;
CREATE INDEX IF NOT EXISTS case_attachments_case ON case_attachments (case_id, uploaded_at);
