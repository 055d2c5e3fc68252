-- Neu zugewandert (issue 5): everyone newly arrived gets the flyer of their town. An arrival
-- is no case: no row in cases, its own workflow (arrival-<reference>), its own tables.
--
-- Data minimisation: of the status event's person only what the flyer needs to reach them is
-- kept, each field for one reason:
--   given_name, family_name  to hand the printed flyer over (the ABH must know whom to give it
--                            to; also needed when a mail fails and the flyer goes out in print)
--   email                    to send the flyer; NULL when the back office knows no address
--   town, language           which flyer (the town's offers, German beside the language)
--   reference, event_id      the back office's reference and its event: a re-sent event is
--                            recognised and nothing is sent twice
-- Not kept: date of birth, nationality, phone, street, postal code, household.
--
-- Erasure (schemas/retention.py, rule "arrival"): erase_after is set when the arrival
-- finishes; then name and e-mail are set to NULL, the arrival's outbox rows are deleted, its
-- task's completion removed and the arrival's data key shredded (every Temporal payload of
-- arrival-<reference> unreadable). What stays is pseudonymous, like a case row after erasure:
-- reference, town, language, dates, outcome, and which flyer version went out how.

CREATE TABLE arrivals (
    arrival_id      uuid PRIMARY KEY,
    reference       text NOT NULL,
    event_id        text NOT NULL UNIQUE,
    town            text NOT NULL,
    language        text NOT NULL,
    effective_date  date NOT NULL,
    received_at     timestamptz NOT NULL,
    given_name      text,            -- NULL once erased
    family_name     text,            -- NULL once erased
    email           text,            -- NULL when unknown, and once erased
    outcome         text CHECK (outcome IN ('emailed', 'handed_over', 'not_reachable', 'lapsed',
                                        'no_flyer')),
    finished_at     timestamptz,
    erase_after     date,
    erased_at       timestamptz,
    CHECK ((outcome IS NULL) = (finished_at IS NULL)),
    CHECK (erased_at IS NOT NULL OR (given_name IS NOT NULL AND family_name IS NOT NULL)),
    CHECK (erased_at IS NULL OR (given_name IS NULL AND family_name IS NULL AND email IS NULL))
);
CREATE INDEX arrivals_reference ON arrivals (reference, town);
CREATE INDEX arrivals_erase_due ON arrivals (erase_after) WHERE erased_at IS NULL;

-- What was sent: one row per way the flyer went out (an e-mail, or a print hand-over; both
-- when a mail failed). The flyer version is named by its id and proven by its versions and
-- hash (schemas/flyers.IssuedFlyer); no personal data here.
CREATE TABLE arrival_deliveries (
    delivery_id        uuid PRIMARY KEY,
    arrival_id         uuid NOT NULL REFERENCES arrivals ON DELETE CASCADE,
    flyer_id           uuid NOT NULL REFERENCES flyer_versions,  -- never deleted
    town               text NOT NULL,
    languages          text[] NOT NULL,       -- German first
    template_version   text NOT NULL,
    directory_version  text NOT NULL,
    content_hash       text NOT NULL,
    flags              text[] NOT NULL DEFAULT '{}',
    channel            text NOT NULL CHECK (channel IN ('email', 'print')),
    outbox_id          bigint,                -- the mail (its row goes with the erasure)
    task_id            uuid,                  -- the hand-over task
    status             text NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'unknown',
                                                       'open', 'handed_over', 'not_reachable',
                                                       'lapsed')),
    handed_over_on     date,
    created_at         timestamptz NOT NULL,
    settled_at         timestamptz,
    CHECK ((channel = 'email') = (outbox_id IS NOT NULL)),
    CHECK ((channel = 'print') = (task_id IS NOT NULL)),
    CHECK (channel = 'email' OR status IN ('open', 'handed_over', 'not_reachable', 'lapsed')),
    CHECK (channel = 'print' OR status IN ('queued', 'sent', 'failed', 'unknown')),
    CHECK ((status = 'handed_over') = (handed_over_on IS NOT NULL))
);
CREATE INDEX arrival_deliveries_arrival ON arrival_deliveries (arrival_id, created_at);
CREATE UNIQUE INDEX arrival_deliveries_task ON arrival_deliveries (task_id)
    WHERE task_id IS NOT NULL;

-- Tasks belong to a case or to an arrival, never both. Queries that join cases to tasks use
-- LEFT JOINs (store/repository.py, store/inbox.py).
ALTER TABLE tasks ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE tasks ADD COLUMN arrival_id uuid REFERENCES arrivals ON DELETE CASCADE;
ALTER TABLE tasks ADD CONSTRAINT tasks_case_or_arrival
    CHECK (num_nonnulls(case_id, arrival_id) = 1);
CREATE INDEX tasks_arrival ON tasks (arrival_id) WHERE arrival_id IS NOT NULL;

-- Mails about an arrival name it, so that its erasure finds them (before, an outbox row
-- without case_id had no rule).
ALTER TABLE outbox ADD COLUMN arrival_id uuid;
ALTER TABLE outbox ADD CONSTRAINT outbox_case_or_arrival
    CHECK (case_id IS NULL OR arrival_id IS NULL);
CREATE INDEX outbox_arrival ON outbox (arrival_id) WHERE arrival_id IS NOT NULL;
