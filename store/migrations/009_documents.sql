-- The documents a case received (issue 5): each PDF with the template version, languages and
-- content hash it was made from, so the case can show which version of a text the person got.
-- PDFs carry personal data: erasure deletes the rows (store/erasure.PERSONAL_TABLES).

CREATE TABLE case_documents (
    document_id      uuid PRIMARY KEY,
    case_id          text NOT NULL REFERENCES cases ON DELETE CASCADE,
    kind             text NOT NULL,          -- conversation_record, departure_letter, consent, flyer
    languages        text[] NOT NULL,        -- e.g. {de,ar}; German always first
    template_version text NOT NULL,
    content_hash     text NOT NULL,          -- sha256 of the PDF bytes
    flags            text[] NOT NULL DEFAULT '{}',  -- e.g. language_missing, draft_translation
    pdf              bytea NOT NULL,
    created_at       timestamptz NOT NULL,
    UNIQUE (case_id, kind, template_version, content_hash)
);
CREATE INDEX case_documents_case ON case_documents (case_id, created_at);
