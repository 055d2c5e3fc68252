-- Issue 10: the login throttle under a burst. An attempt is written before its password is
-- checked (pending), so attempts in parallel see each other; a wrong password turns it into a
-- failure, a right one removes it with the username's other failures. A pending row that
-- outlives its check (the process died during it) counts as a failure.
ALTER TABLE login_failures ADD COLUMN pending boolean NOT NULL DEFAULT false;
