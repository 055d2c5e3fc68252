-- Consent bound to its recipients (issue 13): the consent form names the partners it covers
-- (their directory ids, as printed), and the signed consent covers exactly those: the KI may
-- pass data to no other partner. NULL: a form or consent recorded before, which named none.
ALTER TABLE case_documents ADD COLUMN IF NOT EXISTS recipients integer[];
ALTER TABLE consents ADD COLUMN IF NOT EXISTS covered_partners integer[];
