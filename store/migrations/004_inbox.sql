-- Task assignment in the web inbox (Posteingang): who holds an open task, and every change of
-- that (claim, release, hand-over with a comment). Account ids only, no personal data.
ALTER TABLE tasks ADD COLUMN assigned_to integer;
CREATE INDEX tasks_assigned ON tasks (assigned_to) WHERE status = 'open';

CREATE TABLE task_assignments (
    assignment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES tasks ON DELETE CASCADE,
    action        text NOT NULL CHECK (action IN ('claim', 'release', 'hand_over')),
    by_account    integer NOT NULL,
    from_account  integer,
    to_account    integer,
    comment       text,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_assignments_task ON task_assignments (task_id, assignment_id);
