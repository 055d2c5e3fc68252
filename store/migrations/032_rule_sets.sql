-- Rule sets as versioned data (issue 15, points 3-5): the durations, time rules, residence
-- routes and retention rules a case decides by, one version per row. A version is proposed
-- by one admin and adopted by another (four eyes: the CHECK below), with the simulation over
-- the running cases that was shown before the adoption (numbers only). Version 1 is the
-- configured set, written on first use (service/rules.py), adopted by no one.
CREATE TABLE IF NOT EXISTS rule_sets (
    version        integer PRIMARY KEY CHECK (version >= 1),
    state          text NOT NULL CHECK (state IN ('proposed', 'adopted', 'withdrawn')),
    content        jsonb NOT NULL,
    content_digest text NOT NULL,
    adopted_from   date NOT NULL,
    proposed_by    integer,
    proposed_at    timestamptz NOT NULL,
    adopted_by     integer,
    adopted_at     timestamptz,
    simulation     jsonb,
    CHECK (adopted_by IS NULL OR proposed_by IS NULL OR adopted_by <> proposed_by),
    CHECK (state <> 'adopted' OR adopted_at IS NOT NULL),
    CHECK (version = 1 OR state <> 'adopted' OR adopted_by IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS rule_sets_in_force ON rule_sets (adopted_from) WHERE state = 'adopted';

-- Each decision records the rule version it used: the one its due date was computed with
-- (set when the task opens), and the one its completion was checked against.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS due_rule_version integer;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS decided_rule_version integer;
