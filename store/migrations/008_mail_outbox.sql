-- The mail outbox: every e-mail the service sends is first a row here, written in its own
-- transaction by store/outbox.py; the delivery loop (mail/delivery.py) sends what is due. An
-- SMTP outage therefore delays mail and loses none.
--
-- idempotency_key is chosen by the caller (e.g. '<case id>:<document>:<version>'): a retried
-- enqueue finds the row and adds nothing, so a mail is queued once however often the workflow
-- activity runs.
--
-- Personal data (recipient, subject, body, attachments) lives here only until the mail is
-- sent: marking it sent clears subject and body and deletes the attachments, keeping what
-- proves the delivery (recipient, Message-ID, sha256 of the sent message, sent_at). case_id is
-- nullable (mails about an arrival have no case yet); the erasure of a case deletes its rows
-- (store/erasure.py, PERSONAL_TABLES). No foreign key to cases: erasure keeps the case row,
-- and an outbox row must never stop or be stopped by a case's life cycle.
--
-- last_error holds the error class and SMTP code only, never the server's text: servers echo
-- the recipient address in their replies.

CREATE TABLE outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    case_id          text,
    recipient        text NOT NULL,
    subject          text,           -- NULL once sent
    body             text,           -- NULL once sent
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    -- Set when a delivery loop claims the row; only that claim may record the outcome.
    claim_token      uuid,
    last_error       text,
    message_id       text,
    message_sha256   bytea CHECK (message_sha256 IS NULL OR octet_length(message_sha256) = 32),
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- The delivery loop's question: which queued mails are due, oldest first.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_case ON outbox (case_id) WHERE case_id IS NOT NULL;

-- A side table rather than a jsonb column: attachments are binary (PDF notices), bytea keeps
-- them without base64 inflation, a mail can have several, and deleting them after the send
-- (or with the case, by cascade) is one DELETE that leaves no copy inside a jsonb value.
CREATE TABLE outbox_attachments (
    outbox_id     bigint NOT NULL REFERENCES outbox ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 0),
    filename      text NOT NULL CHECK (filename <> ''),
    content_type  text NOT NULL CHECK (content_type LIKE '%/%'),
    content       bytea NOT NULL,
    PRIMARY KEY (outbox_id, position)
);
