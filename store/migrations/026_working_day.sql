-- A working day's flow (issue 14): a case's next task goes to whoever did its last one
-- ('inherit', written by the case store), and a colleague can take an absent one's task as
-- deputy ('deputy', with the reason). Account ids only, as before.
ALTER TABLE task_assignments DROP CONSTRAINT IF EXISTS task_assignments_action_check;
ALTER TABLE task_assignments ADD CONSTRAINT task_assignments_action_check
    CHECK (action IN ('claim', 'release', 'hand_over', 'inherit', 'deputy'));
