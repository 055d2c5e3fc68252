-- A team lead (issue 14, point 6): a flag an admin sets on an ABH or KI account (an account
-- keeps its one role). A lead reassigns the team's open tasks in bulk, each change kept in
-- task_assignments as 'reassign' (account ids only, as before).
ALTER TABLE accounts ADD COLUMN team_lead boolean NOT NULL DEFAULT false;
ALTER TABLE accounts ADD CONSTRAINT accounts_team_lead_role
    CHECK (NOT team_lead OR role IN ('abh', 'ki'));
ALTER TABLE task_assignments DROP CONSTRAINT IF EXISTS task_assignments_action_check;
ALTER TABLE task_assignments ADD CONSTRAINT task_assignments_action_check
    CHECK (action IN ('claim', 'release', 'hand_over', 'inherit', 'deputy', 'reassign'));
