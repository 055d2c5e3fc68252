-- The disclosure register is exported per period (GET /api/v1/admin/disclosures, Art. 30):
-- the register is kept as long as the case files, so the period query must not scan it all.
CREATE INDEX disclosures_disclosed_at ON disclosures (disclosed_at);
