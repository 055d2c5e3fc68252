-- Withdrawal reaches every recipient (issue 13): the KI carries out each erasure request and
-- confirms it (a task per partner that received data); the day it was confirmed.
ALTER TABLE erasure_requests ADD COLUMN IF NOT EXISTS confirmed_on date;
