-- Finding a case (issue 14): names are searched case- and accent-insensitively, in part.
-- search_fold is the one rule for it, applied to what is stored and to what is searched:
-- decomposed (NFKD), marks removed, lower case, ß as ss, and the German ae/oe/ue spellings
-- of ä/ö/ü taken as the plain vowel on both sides (Mueller finds Müller, and Michael still
-- finds Michael). Plain SQL, no extension: an external server need not offer unaccent.
CREATE OR REPLACE FUNCTION search_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN replace(replace(replace(
    translate(
        lower(regexp_replace(normalize(replace(value, 'ß', 'ss'), NFKD), '[\u0300-\u036f]', '', 'g')),
        'ıłøđħŀ',
        'ilodhl'
    ),
    'ae', 'a'), 'oe', 'o'), 'ue', 'u');

ALTER TABLE persons ADD COLUMN IF NOT EXISTS search_name text
    GENERATED ALWAYS AS (search_fold(given_name || ' ' || family_name)) STORED;

-- What the KI may read of a case: the three categories, on a disclosure to the KI under a
-- consent not withdrawn, not erased; the latest such referral per case. One statement for
-- the KI's case view (store.inbox.ki_referral) and its case list (store.case_list).
CREATE OR REPLACE VIEW ki_readable AS
SELECT DISTINCT ON (r.case_id)
       r.case_id, r.consent_id, r.personal_data, r.contact_data, r.residence_status,
       r.received_at
FROM ki_referrals r
JOIN consents c USING (consent_id)
JOIN disclosures d ON d.consent_id = r.consent_id AND d.recipient = 'ki'
WHERE c.withdrawn_on IS NULL AND r.erased_at IS NULL
ORDER BY r.case_id, r.received_at DESC;
