-- What each recorded status event said, as schemas.events.event_digest (a sha256 of its
-- canonical JSON): the same event_id sent again with other content is a conflict (409), not a
-- silent duplicate. NULL for events recorded before: those are answered as duplicates, as they
-- were. Goes with its row when the case is erased (ON DELETE CASCADE), like the rest of it.
ALTER TABLE status_events ADD COLUMN IF NOT EXISTS content_digest text;
