-- The outbox's backlog for operations (issue 15, point 6): what is not sent yet, counted
-- without reading the sent mails, which stay (delivery proof) and outnumber the rest.
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (status, created_at) WHERE status <> 'sent';
