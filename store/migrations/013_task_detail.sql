-- What a task is about beyond its kind, never personal: for a step_failed task the step
-- (activity name) that the workflow could not carry out (workflows/case.py, _step_failed).
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS detail text;
