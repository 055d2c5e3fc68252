-- How a person left (issue 13): the departure reported with the status ausgereist, its kind,
-- programme and proof, kept with the status event (erased with the case), and its kind on the
-- case row, which stays with the case's anonymous figures after erasure (for the county's
-- report: departures by kind).
ALTER TABLE status_events ADD COLUMN IF NOT EXISTS departure jsonb;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS departure_kind text;
