"""Queries for accounts, sessions, API tokens, login failures and the access log.

Secrets never reach the database: sessions and API tokens are stored as their sha256, passwords
as argon2 hashes. Times are the database's ``now()``, so every process agrees on expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from schemas.accounts import AccessLogEntry, Account, ApiToken, Role
from store.db import Connection

_ACCOUNT_COLUMNS = (
    "account_id, username, display_name, role, active, must_change_password, team_lead, "
    "oidc_subject IS NOT NULL AS sso"
)


def _account(row: asyncpg.Record) -> Account:
    return Account(
        account_id=row["account_id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        active=row["active"],
        must_change_password=row["must_change_password"],
        sso=row["sso"],
        team_lead=row["team_lead"],
    )


# ---------------------------------------------------------------- accounts


async def insert_account(
    con: Connection, username: str, display_name: str, role: Role, password_hash: str
) -> Account | None:
    """The new account; None when the username is taken."""
    row = await con.fetchrow(
        "INSERT INTO accounts (username, display_name, role, password_hash) "
        f"VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING {_ACCOUNT_COLUMNS}",
        username,
        display_name,
        role.value,
        password_hash,
    )
    return None if row is None else _account(row)


async def account_with_hash(con: Connection, username: str) -> tuple[Account, str | None] | None:
    """The account and its password hash (None: a single sign-on account, no local password)."""
    row = await con.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE username = $1", username
    )
    return None if row is None else (_account(row), row["password_hash"])


async def account_by_id(con: Connection, account_id: int) -> Account | None:
    row = await con.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1", account_id
    )
    return None if row is None else _account(row)


async def account_by_subject(con: Connection, issuer: str, subject: str) -> Account | None:
    """The account a single sign-on made for the provider's ``sub``."""
    row = await con.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE oidc_issuer = $1 AND oidc_subject = $2",
        issuer,
        subject,
    )
    return None if row is None else _account(row)


async def insert_sso_account(
    con: Connection, issuer: str, subject: str, username: str, display_name: str, role: Role
) -> Account | None:
    """A new account without a local password; None when the username is taken."""
    row = await con.fetchrow(
        "INSERT INTO accounts (username, display_name, role, oidc_issuer, oidc_subject) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING "
        f"RETURNING {_ACCOUNT_COLUMNS}",
        username,
        display_name,
        role.value,
        issuer,
        subject,
    )
    return None if row is None else _account(row)


async def update_sso_account(
    con: Connection, account_id: int, display_name: str, role: Role
) -> Account | None:
    """The role and display name of a single sign-on account as the provider says now;
    the account as it was before (locked until the transaction ends), None if unknown. An
    account whose role changes no longer leads a team (an admin makes it lead the new one)."""
    row = await con.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1 FOR UPDATE", account_id
    )
    if row is None:
        return None
    await con.execute(
        "UPDATE accounts SET display_name = $2, role = $3,"
        " team_lead = team_lead AND role = $3 WHERE account_id = $1",
        account_id,
        display_name,
        role.value,
    )
    return _account(row)


async def account_by_username(con: Connection, username: str) -> Account | None:
    row = await con.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE username = $1", username
    )
    return None if row is None else _account(row)


async def list_accounts(con: Connection) -> list[Account]:
    rows = await con.fetch(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY username")
    return [_account(row) for row in rows]


async def set_active(con: Connection, account_id: int, active: bool) -> bool:
    done = await con.fetchval(
        "UPDATE accounts SET active = $2 WHERE account_id = $1 RETURNING true", account_id, active
    )
    return bool(done)


async def set_team_lead(con: Connection, account_id: int, lead: bool) -> bool:
    """Whether the account leads its team (ABH and KI accounts only: migration 030)."""
    done = await con.fetchval(
        "UPDATE accounts SET team_lead = $2 WHERE account_id = $1 RETURNING true", account_id, lead
    )
    return bool(done)


async def set_password_hash(con: Connection, account_id: int, password_hash: str) -> bool:
    done = await con.fetchval(
        "UPDATE accounts SET password_hash = $2 "
        "WHERE account_id = $1 AND oidc_subject IS NULL RETURNING true",
        account_id,
        password_hash,
    )
    return bool(done)


async def set_email(con: Connection, account_id: int, email: str | None) -> bool:
    """The account's address for notice mails (None: none)."""
    done = await con.fetchval(
        "UPDATE accounts SET email = $2 WHERE account_id = $1 RETURNING true", account_id, email
    )
    return bool(done)


async def replace_password_hash(
    con: Connection, account_id: int, old_hash: str, new_hash: str
) -> bool:
    """The account's own new password, in place of the one just verified (``old_hash``);
    clears the mark of a reset. False when the password was changed meanwhile."""
    done = await con.fetchval(
        "UPDATE accounts SET password_hash = $3, must_change_password = false "
        "WHERE account_id = $1 AND password_hash = $2 RETURNING true",
        account_id,
        old_hash,
        new_hash,
    )
    return bool(done)


async def emails(con: Connection) -> dict[int, str]:
    """Every account's notice address, by account id (accounts without one are left out)."""
    rows = await con.fetch("SELECT account_id, email FROM accounts WHERE email IS NOT NULL")
    return {row["account_id"]: row["email"] for row in rows}


async def reset_password_hash(
    con: Connection, account_id: int, password_hash: str
) -> Account | None:
    """A one-time password set by an admin: the account must change it at its next login."""
    row = await con.fetchrow(
        "UPDATE accounts SET password_hash = $2, must_change_password = true "
        f"WHERE account_id = $1 AND oidc_subject IS NULL RETURNING {_ACCOUNT_COLUMNS}",
        account_id,
        password_hash,
    )
    return None if row is None else _account(row)


# ----------------------------------------------------------- login failures

# Advisory lock classes (the two-key form) of a login's username and of its client address.
_LOGIN_USERNAME_LOCK = 7_720_310
_LOGIN_CLIENT_LOCK = 7_720_311


async def lock_login(con: Connection, username: str, client: str) -> None:
    """Serialise logins per username and per client address until the transaction ends.

    Every login takes the username's lock first, then the client's: one that holds a client
    lock never waits for a username lock, so two logins never wait for each other in a cycle.
    A hash collision of two names only makes them wait for each other, briefly.
    """
    await con.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOGIN_USERNAME_LOCK, username
    )
    await con.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOGIN_CLIENT_LOCK, client)


@dataclass(frozen=True)
class LoginCounts:
    """Attempts within the failure window, per username and per client address: ``failed``
    (wrong passwords, and attempts pending longer than they can take), ``pending`` (a check
    in progress right now)."""

    failed_username: int
    failed_client: int
    pending_username: int
    pending_client: int


async def login_counts(
    con: Connection, username: str, client: str, window: timedelta, in_flight: timedelta
) -> LoginCounts:
    row = await con.fetchrow(
        "SELECT count(*) FILTER (WHERE username = $1 AND settled) AS failed_username, "
        "count(*) FILTER (WHERE client = $2 AND settled) AS failed_client, "
        "count(*) FILTER (WHERE username = $1 AND NOT settled) AS pending_username, "
        "count(*) FILTER (WHERE client = $2 AND NOT settled) AS pending_client "
        "FROM (SELECT username, client, NOT pending OR at < now() - $4::interval AS settled "
        "FROM login_failures WHERE at > now() - $3::interval "
        "AND (username = $1 OR client = $2)) AS attempts",
        username,
        client,
        window,
        in_flight,
    )
    assert row is not None
    return LoginCounts(
        failed_username=int(row["failed_username"]),
        failed_client=int(row["failed_client"]),
        pending_username=int(row["pending_username"]),
        pending_client=int(row["pending_client"]),
    )


async def insert_pending_attempt(con: Connection, username: str, client: str) -> int:
    """An attempt whose password is about to be checked; its id, to settle it afterwards."""
    attempt_id: int = await con.fetchval(
        "INSERT INTO login_failures (username, client, at, pending) "
        "VALUES ($1, $2, now(), true) RETURNING failure_id",
        username,
        client,
    )
    return attempt_id


async def settle_as_failure(con: Connection, attempt_id: int, username: str, client: str) -> None:
    """The password was wrong. A right one of the same username may have removed the row
    meanwhile (``forget_failures``); the failure is recorded all the same."""
    updated = await con.fetchval(
        "UPDATE login_failures SET pending = false WHERE failure_id = $1 RETURNING true",
        attempt_id,
    )
    if not updated:
        await con.execute(
            "INSERT INTO login_failures (username, client, at) VALUES ($1, $2, now())",
            username,
            client,
        )


async def forget_failures(con: Connection, username: str, older_than: timedelta) -> None:
    """After a successful login the username's failures no longer count; old rows go."""
    await con.execute(
        "DELETE FROM login_failures WHERE username = $1 OR at < now() - $2::interval",
        username,
        older_than,
    )


# ----------------------------------------------------------------- sessions


async def insert_session(
    con: Connection, token_hash: bytes, account_id: int, lifetime: timedelta
) -> None:
    await con.execute(
        "INSERT INTO sessions (token_hash, account_id, created_at, last_seen, expires_at) "
        "VALUES ($1, $2, now(), now(), now() + $3::interval)",
        token_hash,
        account_id,
        lifetime,
    )


async def touch_session(con: Connection, token_hash: bytes, idle: timedelta) -> Account | None:
    """The session's account when the session is live and the account active; slides idle."""
    row = await con.fetchrow(
        "UPDATE sessions s SET last_seen = now() FROM accounts a "
        "WHERE s.token_hash = $1 AND a.account_id = s.account_id AND a.active "
        "AND s.expires_at > now() AND s.last_seen + $2::interval > now() "
        "RETURNING a.account_id, a.username, a.display_name, a.role, a.active, "
        "a.must_change_password, a.team_lead, a.oidc_subject IS NOT NULL AS sso",
        token_hash,
        idle,
    )
    return None if row is None else _account(row)


async def delete_session(con: Connection, token_hash: bytes) -> None:
    await con.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)


async def delete_sessions_of(con: Connection, account_id: int, *, keep: bytes | None = None) -> int:
    """End the account's sessions, all but ``keep`` (a session's hash); how many ended."""
    ended: int = await con.fetchval(
        "WITH ended AS (DELETE FROM sessions WHERE account_id = $1"
        " AND token_hash IS DISTINCT FROM $2 RETURNING 1) SELECT count(*) FROM ended",
        account_id,
        keep,
    )
    return ended


# --------------------------------------------------------------- API tokens


async def insert_api_token(con: Connection, name: str, token_hash: bytes) -> int | None:
    """The new token's id; None when a token (active or revoked) has the name already."""
    token_id: int | None = await con.fetchval(
        "INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2)"
        " ON CONFLICT (name) DO NOTHING RETURNING token_id",
        name,
        token_hash,
    )
    return token_id


async def api_token_id(con: Connection, token_hash: bytes) -> int | None:
    """The id of the unrevoked token of ``token_hash``, else None."""
    found = await con.fetchval(
        "SELECT token_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash,
    )
    return None if found is None else int(found)


async def revoke_api_tokens(con: Connection, name: str) -> list[int]:
    """Revoke every active token of ``name``; returns their ids (none when there were none)."""
    revoked = await con.fetch(
        "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL"
        " RETURNING token_id",
        name,
    )
    return sorted(row["token_id"] for row in revoked)


async def list_api_tokens(con: Connection) -> list[ApiToken]:
    rows = await con.fetch(
        "SELECT token_id, name, created_at, revoked_at FROM api_tokens ORDER BY token_id"
    )
    return [ApiToken.model_validate(dict(row)) for row in rows]


# --------------------------------------------------------------- access log


async def insert_access(con: Connection, account: Account, case_id: str, what: str) -> None:
    await con.execute(
        "INSERT INTO access_log (at, account_id, username, role, case_id, what) "
        "VALUES (now(), $1, $2, $3, $4, $5)",
        account.account_id,
        account.username,
        account.role.value,
        case_id,
        what,
    )


async def access_log(con: Connection, case_id: str) -> list[AccessLogEntry]:
    rows = await con.fetch(
        "SELECT at, account_id, username, role, case_id, what FROM access_log "
        "WHERE case_id = $1 ORDER BY at, access_id",
        case_id,
    )
    return [AccessLogEntry.model_validate(dict(row)) for row in rows]
