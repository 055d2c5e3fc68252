-- Notices that reach people (issue 14, point 5): reminders, overdue notices, supporters
-- reported and new KI referrals go out as e-mail through the outbox, to the assigned person
-- or to the team's address, and as a daily digest (activities/notices.py).
--
-- accounts.email: the staff member's work address for these mails; optional, set by admins
-- (/admin/konten, python -m commands.accounts email). Staff data, not a case's: it stays with
-- the account. The team addresses are configuration (CASE_NOTICE_QUEUE_ADDRESSES).
ALTER TABLE accounts ADD COLUMN email text
    CHECK (email IS NULL OR (email <> '' AND length(email) <= 254));

-- How the dispatcher settled a notice; NULL while it waits (no address yet, or not yet run):
--   mailed         one mail of its own (outbox_id names it, sent_at is when it was queued)
--   digest         listed in a daily digest (digest-only mode; outbox_id names the digest)
--   task_closed    its task was done or cancelled before a mail went: none is sent
--   superseded     a reminder of a task already overdue: the overdue notice says more
--   predates_mail  written before notices were mailed: the inbox had shown it, no mail now
-- A mail's idempotency key is 'notice:<key>', so a retried dispatch queues none twice.
ALTER TABLE notices ADD COLUMN outcome text
    CHECK (outcome IN ('mailed', 'digest', 'task_closed', 'superseded', 'predates_mail'));
ALTER TABLE notices ADD COLUMN outbox_id bigint;  -- no foreign key: erasure removes mails
ALTER TABLE notices ADD CONSTRAINT notices_sent_by_mail
    CHECK ((sent_at IS NOT NULL) = (outcome IS NOT NULL AND outcome IN ('mailed', 'digest')));

UPDATE notices SET outcome = 'predates_mail' WHERE outcome IS NULL;

-- The dispatcher's question: which notices wait, oldest first.
CREATE INDEX notices_pending ON notices (created_at, key) WHERE outcome IS NULL;

-- A new KI referral is a new open ki_contact task: the dispatcher writes its notice
-- ('<task_id>:ki_referral', kind 'ki_referral'), no workflow is changed. The open ones
-- already there when this runs predate the mails.
INSERT INTO notices (key, case_id, queue, kind, task_id, created_at, outcome)
SELECT task_id::text || ':ki_referral', case_id, queue, 'ki_referral', task_id, created_at,
       'predates_mail'
  FROM tasks WHERE kind = 'ki_contact' AND status = 'open' AND case_id IS NOT NULL
ON CONFLICT (key) DO NOTHING;
CREATE INDEX tasks_open_ki_contact ON tasks (created_at) WHERE status = 'open'
    AND kind = 'ki_contact';
