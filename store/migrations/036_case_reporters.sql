-- Which back-office token reported a case (issue 17, point 4): a token reads back the stage and
-- outcome of the cases it reported, nothing of others. Ids only; gone with the case row.
CREATE TABLE IF NOT EXISTS case_reporters (
    case_id     text NOT NULL REFERENCES cases ON DELETE CASCADE,
    token_id    integer NOT NULL REFERENCES api_tokens ON DELETE CASCADE,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, token_id)
);
