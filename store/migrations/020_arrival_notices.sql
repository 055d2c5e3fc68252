-- Arrival tasks get reminders and overdue notices like case tasks (issue 13, point 15): a
-- notice belongs to a case or to an arrival, never both (as tasks do since 011_arrivals.sql).
-- Its key stays the primary key (``<task_id>:<kind>``), so a retried activity adds nothing.
--
-- No personal data: which arrival, which team, what kind, which task, when. Still it goes
-- with the arrival's erasure (store/arrivals.py PERSONAL_TABLES), as a case's notices go
-- with the case's; ON DELETE CASCADE for an arrival row that is ever deleted.
ALTER TABLE notices ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE notices ADD COLUMN arrival_id uuid REFERENCES arrivals ON DELETE CASCADE;
ALTER TABLE notices ADD CONSTRAINT notices_case_or_arrival
    CHECK (num_nonnulls(case_id, arrival_id) = 1);
CREATE INDEX notices_arrival ON notices (arrival_id) WHERE arrival_id IS NOT NULL;
