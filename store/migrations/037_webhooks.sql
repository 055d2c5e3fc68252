-- Notifications back to the back office (issue 17, point 3): webhooks through the outbox.
--
-- An admin subscribes an endpoint (its URL and a secret, sealed with the key ring's data key
-- of the scope "webhooks"). What happens to a case is written as one outbox row per active
-- subscription by the triggers below, in the transaction that made it happen: a change that
-- is rolled back announces nothing, one that is committed is announced at least once. The
-- delivery loop (webhooks/delivery.py) signs and posts each row, with the mails' retries and
-- backoff. The rows hold ids and states only, never personal data; they have no case_id, so
-- the erasure of a case's mails leaves the announcement of that erasure alone.

CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    subscription_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    url             text NOT NULL CHECK (url ~ '^https?://[^\s]+$'),
    secret_key_id   text NOT NULL,
    secret_sealed   bytea NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE outbox ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'mail';
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS subscription_id integer
    REFERENCES webhook_subscriptions ON DELETE CASCADE;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'outbox_channel') THEN
        ALTER TABLE outbox ADD CONSTRAINT outbox_channel CHECK (
            channel IN ('mail', 'webhook')
            AND (channel = 'webhook') = (subscription_id IS NOT NULL)
        );
    END IF;
END $$;
-- Each delivery loop asks for the due rows of its own channel.
CREATE INDEX IF NOT EXISTS outbox_due_channel ON outbox (channel, next_attempt_at)
    WHERE status = 'queued';

-- One event, one row per active subscription. The idempotency key (the webhook-id the
-- receiver deduplicates by) is the subscription's and the event's.
CREATE OR REPLACE FUNCTION webhook_announce(kind text, data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    event_id text := replace(gen_random_uuid()::text, '-', '');
    at timestamptz := clock_timestamp();
BEGIN
    INSERT INTO outbox (idempotency_key, recipient, subject, body, next_attempt_at, created_at,
                        channel, subscription_id)
    SELECT 'msg_' || event_id || '_' || s.subscription_id, s.url, kind,
           jsonb_build_object(
               'type', kind,
               'timestamp', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', data
           )::text,
           at, at, 'webhook', s.subscription_id
    FROM webhook_subscriptions s
    WHERE s.active;
END $$;

CREATE OR REPLACE FUNCTION webhook_case_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM webhook_announce('case.opened', jsonb_build_object(
            'case_id', NEW.case_id, 'stage', NEW.stage,
            'residence_status', NEW.residence_status));
        RETURN NULL;
    END IF;
    IF NEW.stage IS DISTINCT FROM OLD.stage THEN
        PERFORM webhook_announce('case.stage_changed', jsonb_build_object(
            'case_id', NEW.case_id, 'stage', NEW.stage, 'previous_stage', OLD.stage));
        IF NEW.stage = 'closed' THEN
            PERFORM webhook_announce('case.closed', jsonb_build_object(
                'case_id', NEW.case_id, 'outcome', NEW.outcome));
        END IF;
    END IF;
    IF OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL THEN
        PERFORM webhook_announce('case.erased', jsonb_build_object('case_id', NEW.case_id));
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS webhook_case ON cases;
CREATE TRIGGER webhook_case AFTER INSERT OR UPDATE OF stage, erased_at ON cases
    FOR EACH ROW EXECUTE FUNCTION webhook_case_changed();

CREATE OR REPLACE FUNCTION webhook_escalation_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'escalation' OR NEW.case_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM webhook_announce('escalation.opened', jsonb_build_object(
            'case_id', NEW.case_id, 'task_id', NEW.task_id));
    ELSIF OLD.status = 'open' AND NEW.status = 'completed' THEN
        PERFORM webhook_announce('escalation.decided', jsonb_build_object(
            'case_id', NEW.case_id, 'task_id', NEW.task_id,
            'decision', NEW.completion ->> 'decision'));
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS webhook_escalation ON tasks;
CREATE TRIGGER webhook_escalation AFTER INSERT OR UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION webhook_escalation_changed();

CREATE OR REPLACE FUNCTION webhook_consent_withdrawn() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.withdrawn_on IS NULL AND NEW.withdrawn_on IS NOT NULL THEN
        PERFORM webhook_announce('consent.withdrawn', jsonb_build_object(
            'case_id', NEW.case_id, 'withdrawn_on', NEW.withdrawn_on));
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS webhook_consent ON consents;
CREATE TRIGGER webhook_consent AFTER UPDATE OF withdrawn_on ON consents
    FOR EACH ROW EXECUTE FUNCTION webhook_consent_withdrawn();
