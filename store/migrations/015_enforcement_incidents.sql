-- Time rules broken by an enforcement as it was carried out (issue 13): a breach cannot be
-- refused after the fact, so it is documented here (the rules, the actual times, why, who
-- decided) for the county's report. The reason may be about the person: erasure clears it
-- (store/erasure.PERSONAL_COLUMNS); the rest stays as the record that it happened.
CREATE TABLE enforcement_incidents (
    incident_id    uuid PRIMARY KEY,
    case_id        text NOT NULL REFERENCES cases ON DELETE CASCADE,
    rule_ids       text[] NOT NULL CHECK (cardinality(rule_ids) >= 1),
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL CHECK (ended_at > started_at),
    minors_present boolean NOT NULL,
    reason         text,
    decided_by     text NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX enforcement_incidents_recorded ON enforcement_incidents (recorded_at);
