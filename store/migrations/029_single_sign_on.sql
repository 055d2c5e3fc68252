-- Issue 14, point 7: single sign-on with the county's OpenID Connect provider
-- (docs/accounts.md, "Single Sign-On (OpenID Connect)").
--
-- An account made by a single sign-on is found again by its provider's issuer and subject
-- (`sub`, unique per issuer, never reassigned); its username comes from the first login and
-- does not change (the audit log names people by it), its display name and role are updated
-- at every login. It has no local password: password_hash stays NULL, and a local login with
-- its username fails like a wrong password. Staff data, not data of the people in the cases.
ALTER TABLE accounts ADD COLUMN oidc_issuer text, ADD COLUMN oidc_subject text;
ALTER TABLE accounts ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE accounts ADD CONSTRAINT accounts_oidc_pair
    CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));
-- Every account can log in one way: with a local password or through the provider.
ALTER TABLE accounts ADD CONSTRAINT accounts_one_way_in
    CHECK ((password_hash IS NULL) <> (oidc_subject IS NULL));
CREATE UNIQUE INDEX accounts_oidc ON accounts (oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;
