-- Issue 14, point 7: accounts.
--
-- An admin's reset marks the account: at its next login the person is sent to the password
-- page and reaches nothing else until they have set a password of their own.
ALTER TABLE accounts ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- A token name names one token, for good: revoked tokens keep theirs, so the listing, the
-- revocation by name and the audit log's entries never mean two tokens. A database made
-- before this may hold several tokens of one name. Per name the active token made last keeps
-- it (with none active, the one made last); every other one gets its id appended
-- ("backoffice" → "backoffice-3", and once more should that name be taken as well).
-- `python -m commands.accounts tokens` lists the names as they are now; the audit log's
-- entries name the token ids, which do not change.
DO $$
DECLARE
    duplicate record;
    renamed text;
BEGIN
    FOR duplicate IN
        SELECT token_id, name
        FROM (
            SELECT token_id, name,
                   row_number() OVER (
                       PARTITION BY name ORDER BY revoked_at IS NOT NULL, token_id DESC
                   ) AS place
            FROM api_tokens
        ) AS ranked
        WHERE place > 1
        ORDER BY token_id
    LOOP
        renamed := duplicate.name || '-' || duplicate.token_id;
        WHILE EXISTS (SELECT 1 FROM api_tokens WHERE name = renamed) LOOP
            renamed := renamed || '-' || duplicate.token_id;
        END LOOP;
        UPDATE api_tokens SET name = renamed WHERE token_id = duplicate.token_id;
    END LOOP;
END
$$;

ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_name_key UNIQUE (name);
