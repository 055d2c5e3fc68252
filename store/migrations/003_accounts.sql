-- Personal accounts with roles, sessions, API tokens for back-office intake, login failures
-- (throttling) and the access log of every opening of a case's personal data.
-- Sessions and tokens are stored as the sha256 of the secret only.

CREATE TABLE accounts (
    account_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('abh', 'ki', 'ops', 'admin')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL  -- the absolute end; the idle end is last_seen + timeout
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_tokens (
    token_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Failed logins, per username and per client address, for throttling.
CREATE TABLE login_failures (
    failure_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username    text NOT NULL,
    client      text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_client ON login_failures (client, at);

-- Who opened which case's personal data, when, in which role. Never deleted by the service.
CREATE TABLE access_log (
    access_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    account_id  integer NOT NULL REFERENCES accounts,
    username    text NOT NULL,
    role        text NOT NULL,
    case_id     text NOT NULL,
    what        text NOT NULL
);
CREATE INDEX access_log_case ON access_log (case_id, at);
