"""Accounts, logins, sessions, API tokens and the admins' listing of the access log: the one
place that handles secrets. (Writing the access log is :mod:`service.access`'s, with the
reading it records.)

Passwords are argon2id hashes (argon2-cffi's RFC 9106 defaults). Session and API tokens are 32
random bytes in hex (never starting with "-", so they pass as command-line values), handed out
once and stored as their sha256 only, so a database dump opens no session. Failed logins are
recorded in PostgreSQL and throttle per username and per client address: after
``login_max_failures`` within ``login_failure_window`` every attempt is refused, even with the
right password, until the window has passed.

The throttle holds under a burst: an attempt takes transaction-level advisory locks on its
username and its client address, counts the failures and the checks in progress, and records
itself as a check in progress (a pending row), all before its password is checked; the locks
end with that short transaction, so no lock (and no connection) is held while argon2 runs.
Parallel attempts therefore see each other: while failures and checks in progress reach the
limit, a new attempt waits for those checks to end (briefly: a check takes tens of
milliseconds) instead of being refused for what may not fail, and at most
``login_max_failures`` wrong passwords are ever checked within the window. A wrong password
turns its row into a failure; a right one removes the username's rows, its own included.

argon2 costs tens of milliseconds of CPU and 64 MiB per hash: it runs in a small thread pool of
its own (argon2-cffi releases the GIL), never on the event loop that the pages, the API and, in
one process, the worker share; the pool's size bounds the memory a burst can take.

Every change to accounts and tokens is appended to the audit log
(``store.audit``) in the same transaction as the change itself, so an entry exists exactly when
the change was committed. ``by`` names the admin who did it; without it (the accounts CLI on
the server) the entry names the service's ``system_actor``. A session opened by a login (the
password or a single sign-on) is an entry ``login`` of the person.

Single sign-on (:mod:`service.sso`, when ``CASE_OIDC_ISSUER`` is set): :meth:`sso_login` finds
the account of the provider's ``sub`` or makes it (no local password), sets its role from the
groups at every login, and refuses a deactivated account. Such an account has no password
here: the local login fails for it like a wrong password, and neither the person nor an admin
can set one. Those entries name ``sso`` as the actor.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Literal, NoReturn, TypeVar

import asyncpg
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import TypeAdapter, ValidationError

from config.settings import Settings
from schemas.accounts import AccessLogEntry, Account, ApiToken, BackOffice, Role
from schemas.audit import SYSTEM_ROLE, AuditAction, AuditDraft, DetailValue, by_system
from schemas.errors import FieldError
from schemas.inputs import describe_de, forbidden_character
from schemas.mail import MailAddress
from schemas.sso import SsoFlow, SsoIdentity
from service.errors import AccountError, LoginRefused, NotFound, SsoRefused
from service.sso import SingleSignOn
from store import accounts as store
from store import audit
from store.db import Connection

MIN_PASSWORD_LENGTH = 12

# The fields of a password change, as the page names its inputs.
PASSWORD_FIELDS = ("current_password", "new_password", "new_password_repeated")
_TOO_SHORT = f"Das Passwort muss mindestens {MIN_PASSWORD_LENGTH} Zeichen lang sein."
_NO_CURRENT = "Bitte Ihr bisheriges Passwort eingeben."
_WRONG_CURRENT = "Das bisherige Passwort ist falsch."
_SAME_AS_BEFORE = "Das neue Passwort muss sich vom bisherigen unterscheiden."
_NOT_REPEATED = "Die Wiederholung stimmt nicht mit dem neuen Passwort überein."
_CHANGED_MEANWHILE = (
    "Das Passwort wurde eben an anderer Stelle geändert. Bitte das jetzt gültige eingeben."
)
NO_LOCAL_PASSWORD = (
    "Dieses Konto meldet sich mit dem Kreis-Konto an und hat hier kein Passwort. Das Passwort "
    "des Kreis-Kontos ändern Sie beim Kreis, nicht hier."
)
SSO_ACTOR = "sso"  # the audit log's actor of what a single sign-on changes
LoginMethod = Literal["password", "sso"]
# One-time passwords: no characters that read alike (0/o, 1/l/i), in groups of four to read
# out or type: 16 of 31 characters, about 79 bits.
_ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def one_time_password() -> str:
    """Like ``k7mq-x3vd-9rtb-hw4p``: random, and readable over the phone."""
    groups = ("".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


def _check_text(field: str, value: str) -> None:
    """Names are stored and shown: refused when PostgreSQL or a page cannot carry them."""
    character = forbidden_character(value)
    if character is not None:
        raise AccountError(f"{field}: {describe_de(character)}")


_NOTICE_ADDRESS: TypeAdapter[str] = TypeAdapter(MailAddress)


def _notice_address(email: str | None) -> str | None:
    """An account's notice address as entered: trimmed, one plain address, or None."""
    address = (email or "").strip()
    if not address:
        return None
    _check_text("E-Mail-Adresse", address)
    try:
        return _NOTICE_ADDRESS.validate_python(address)
    except ValidationError:
        raise AccountError(
            "Bitte eine E-Mail-Adresse wie name@kreis-unna.de angeben (ohne Namen davor)."
        ) from None


def _refused(field: str, reason: str) -> AccountError:
    """A German refusal naming the one field at fault (the page puts it there)."""
    return AccountError(reason, [FieldError(field=field, reason=reason)])


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


# argon2id as RFC 9106 recommends where memory is scarce (64 MiB, t=3, p=4; argon2-cffi's own
# default). The tests' process swaps it for the cheapest profile (tests/conftest.py), as a test
# of logins is no test of argon2; every process they start hashes with this.
HASH_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
# Two threads: one hash already uses several cores (argon2's lanes), and each takes 64 MiB.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
_T = TypeVar("_T")
# A check in progress is waited for this often, at most this long (a check takes well under a
# second; a pending row older than _IN_FLIGHT is from a process that died during the check,
# and counts as a failure).
_ADMISSION_POLL = 0.05
_ADMISSION_PATIENCE = 5.0  # within the few seconds any answer must come in
_IN_FLIGHT = timedelta(minutes=1)


async def _off_loop(work: Callable[[], _T]) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, work)


class AccountService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings | None = None,
        *,
        system_actor: str = "service",
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings or Settings()
        self._system_actor = system_actor
        self._hasher = hasher or PasswordHasher.from_parameters(HASH_PARAMETERS)
        # Verified against when the username is unknown, so both answers take equally long.
        # Made in the hashing pool: constructing the service (in the app's lifespan) must not
        # hold the event loop for a hash.
        self._dummy_hash: Future[str] = _HASHING.submit(self._hasher.hash, secrets.token_hex(16))
        # Single sign-on: None unless CASE_OIDC_ISSUER is set.
        self.sso = SingleSignOn(self._settings) if self._settings.oidc_issuer else None

    # ---------------------------------------------------------------- login

    async def authenticate(self, username: str, password: str, *, client: str) -> Account:
        account, _ = await self._verified(username, password, client=client)
        return account

    async def _verified(self, username: str, password: str, *, client: str) -> tuple[Account, str]:
        """The account of a right password and its stored hash, through the throttle: a wrong
        password counts as a failed login of ``username`` from ``client``."""
        attempt_id = await self._admit(username, client)
        async with self._pool.acquire() as con:
            found = await store.account_with_hash(con, username)
        account, stored = found if found else (None, None)
        if stored is None:  # no such account, or one of single sign-on: equally long, refused
            account, stored = None, await asyncio.wrap_future(self._dummy_hash)
        if not await self._verify(stored, password) or account is None or not account.active:
            async with self._pool.acquire() as con:
                await store.settle_as_failure(con, attempt_id, username, client)
            raise LoginRefused("invalid")
        rehashed = None
        if self._hasher.check_needs_rehash(stored):
            rehashed = await self._hash(password)
        async with self._pool.acquire() as con, con.transaction():
            if rehashed is not None:
                await store.set_password_hash(con, account.account_id, rehashed)
            # The username's failures, and this attempt with them, no longer count.
            await store.forget_failures(con, username, self._settings.login_failure_window)
        return account, rehashed or stored

    async def _admit(self, username: str, client: str) -> int:
        """Let an attempt check its password (its pending row's id), or refuse it.

        Refused when the failures reach the limit. When failures and checks in progress
        together reach it, the attempt waits for those checks to end (a right password
        frees its place) rather than being refused for what may not fail; after
        ``_ADMISSION_PATIENCE`` it is refused.
        """
        settings = self._settings
        limit = settings.login_max_failures
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _ADMISSION_PATIENCE
        while True:
            async with self._pool.acquire() as con, con.transaction():
                await store.lock_login(con, username, client)
                counts = await store.login_counts(
                    con, username, client, settings.login_failure_window, _IN_FLIGHT
                )
                if max(counts.failed_username, counts.failed_client) >= limit:
                    raise LoginRefused("throttled")
                busy = max(
                    counts.failed_username + counts.pending_username,
                    counts.failed_client + counts.pending_client,
                )
                if busy < limit:
                    return await store.insert_pending_attempt(con, username, client)
            if loop.time() >= give_up:
                raise LoginRefused("throttled")
            await asyncio.sleep(_ADMISSION_POLL)

    async def _verify(self, stored: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await _off_loop(verify)

    async def _hash(self, password: str) -> str:
        return await _off_loop(lambda: self._hasher.hash(password))

    # ------------------------------------------------------------- sessions

    async def open_session(self, account: Account, *, login: LoginMethod | None = None) -> str:
        """A new session of ``account``, its token returned once. ``login``: opened by a
        login of the person (the audit log's ``login`` entry, in the same transaction)."""
        token = secrets.token_hex(32)
        async with self._pool.acquire() as con, con.transaction():
            await store.insert_session(
                con, _digest(token), account.account_id, self._settings.session_lifetime
            )
            if login is not None:
                detail: dict[str, DetailValue] = {
                    "account_id": account.account_id,
                    "method": login,
                }
                await audit.append(con, AuditDraft.by(account, AuditAction.LOGIN, detail=detail))
        return token

    # ------------------------------------------------------- single sign-on

    def _single_sign_on(self) -> SingleSignOn:
        if self.sso is None:
            raise SsoRefused("not_configured")
        return self.sso

    async def sso_begin(self, redirect_uri: str, next_path: str) -> tuple[str, SsoFlow]:
        """Where to send the browser to log in at the provider, and the flow to keep there."""
        return await self._single_sign_on().begin(redirect_uri, next_path)

    async def sso_login(
        self, flow: SsoFlow | None, answer: Mapping[str, str], redirect_uri: str
    ) -> Account:
        """The account of the person the provider's ``answer`` vouches for: found by the
        provider's ``sub`` or made now, its role and display name as the provider says now.

        Refused (:class:`SsoRefused`): a bad answer (:meth:`SingleSignOn.identify`), groups
        of no role or of several, a deactivated account, a username of another account. A
        known account whose groups no longer give a role loses its sessions at once.
        """
        sso = self._single_sign_on()
        identity = await sso.identify(flow, answer, redirect_uri)
        try:
            role = sso.role_of(identity)
        except SsoRefused as refused:
            await self._end_sessions_of_refused(identity, refused)
            raise
        async with self._pool.acquire() as con, con.transaction():
            account = await store.account_by_subject(con, identity.issuer, identity.subject)
            if account is None:
                account = await store.insert_sso_account(
                    con,
                    identity.issuer,
                    identity.subject,
                    identity.username,
                    identity.display_name,
                    role,
                )
                if account is not None:
                    await audit.append(
                        con,
                        by_system(
                            SSO_ACTOR,
                            AuditAction.ACCOUNT_CREATED,
                            detail={
                                "account_id": account.account_id,
                                "username": account.username,
                                "role": role.value,
                                "sso": True,
                            },
                        ),
                    )
                    return account
                # Taken: by another account, or by this very person's first login a moment
                # ago (in another tab); then it is theirs.
                account = await store.account_by_subject(con, identity.issuer, identity.subject)
                if account is None:
                    raise SsoRefused("username_taken", "the username is another account's")
            if not account.active:
                raise SsoRefused("deactivated", "the account is deactivated")
            before = await store.update_sso_account(
                con, account.account_id, identity.display_name, role
            )
            if before is not None and before.role is not role:
                await audit.append(
                    con,
                    by_system(
                        SSO_ACTOR,
                        AuditAction.ACCOUNT_ROLE_CHANGED,
                        detail={
                            "account_id": account.account_id,
                            "from": before.role.value,
                            "to": role.value,
                        },
                    ),
                )
        return account.model_copy(update={"role": role, "display_name": identity.display_name})

    async def _end_sessions_of_refused(self, identity: SsoIdentity, refused: SsoRefused) -> None:
        async with self._pool.acquire() as con, con.transaction():
            account = await store.account_by_subject(con, identity.issuer, identity.subject)
            if account is None:
                return
            ended = await store.delete_sessions_of(con, account.account_id)
            await audit.append(
                con,
                by_system(
                    SSO_ACTOR,
                    AuditAction.LOGIN_REFUSED,
                    detail={
                        "account_id": account.account_id,
                        "reason": refused.reason,
                        "sessions_ended": ended,
                    },
                ),
            )

    async def session_account(self, token: str) -> Account | None:
        if not token:
            return None
        async with self._pool.acquire() as con:
            return await store.touch_session(
                con, _digest(token), self._settings.session_idle_timeout
            )

    async def close_session(self, token: str) -> None:
        async with self._pool.acquire() as con:
            await store.delete_session(con, _digest(token))

    # ------------------------------------------------------------- accounts

    async def create_account(
        self,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        *,
        by: Account | None = None,
    ) -> Account:
        username = username.strip()
        if not username or not display_name.strip():
            raise AccountError("Benutzername und Anzeigename dürfen nicht leer sein.")
        _check_text("Benutzername", username)
        _check_text("Anzeigename", display_name)
        self._check_password(password)
        password_hash = await self._hash(password)
        async with self._pool.acquire() as con, con.transaction():
            account = await store.insert_account(
                con, username, display_name.strip(), Role(role), password_hash
            )
            if account is not None:
                await self._audit(
                    con,
                    by,
                    AuditAction.ACCOUNT_CREATED,
                    {
                        "account_id": account.account_id,
                        "username": account.username,
                        "role": account.role.value,
                    },
                )
        if account is None:
            raise AccountError(f"Den Benutzernamen {username!r} gibt es schon.")
        return account

    async def list_accounts(self) -> list[Account]:
        async with self._pool.acquire() as con:
            return await store.list_accounts(con)

    async def set_active(self, account_id: int, active: bool, *, by: Account | None = None) -> None:
        """Deactivating ends the account's sessions at once."""
        async with self._pool.acquire() as con, con.transaction():
            if not await store.set_active(con, account_id, active):
                raise AccountError("Unbekanntes Konto.")
            if not active:
                await store.delete_sessions_of(con, account_id)
            action = AuditAction.ACCOUNT_ACTIVATED if active else AuditAction.ACCOUNT_DEACTIVATED
            await self._audit(con, by, action, {"account_id": account_id})

    async def set_password(
        self, account_id: int, password: str, *, by: Account | None = None
    ) -> None:
        """A new password ends the account's sessions."""
        self._check_password(password)
        password_hash = await self._hash(password)
        async with self._pool.acquire() as con, con.transaction():
            if not await store.set_password_hash(con, account_id, password_hash):
                await self._refuse_unknown_or_sso(con, account_id)
            await store.delete_sessions_of(con, account_id)
            await self._audit(con, by, AuditAction.PASSWORD_CHANGED, {"account_id": account_id})

    async def set_email(
        self, account_id: int, email: str | None, *, by: Account | None = None
    ) -> None:
        """The address notices go to (``activities/notices.py``); empty or None removes it.
        The audit entry names the account, not the address."""
        address = _notice_address(email)
        async with self._pool.acquire() as con, con.transaction():
            if not await store.set_email(con, account_id, address):
                raise NotFound("Unbekanntes Konto.")
            await self._audit(
                con,
                by,
                AuditAction.ACCOUNT_EMAIL_CHANGED,
                {"account_id": account_id, "email_set": address is not None},
            )

    async def set_team_lead(
        self, account_id: int, lead: bool, *, by: Account | None = None
    ) -> Account:
        """Make an ABH or KI account its team's lead (or no longer): a lead reassigns the
        team's tasks in bulk. The account keeps its role; another role cannot lead a team."""
        async with self._pool.acquire() as con, con.transaction():
            account = await store.account_by_id(con, account_id)
            if account is None:
                raise NotFound("Unbekanntes Konto.")
            if lead and account.role not in (Role.ABH, Role.KI):
                raise AccountError(
                    "Teamleitung gibt es nur für Konten der ABH oder des KI, nicht für "
                    f"{account.username} (Rolle {account.role.value})."
                )
            if account.team_lead == lead:
                return account
            await store.set_team_lead(con, account_id, lead)
            await self._audit(
                con,
                by,
                AuditAction.ACCOUNT_TEAM_LEAD_CHANGED,
                {"account_id": account_id, "team_lead": lead},
            )
        return account.model_copy(update={"team_lead": lead})

    async def emails(self) -> dict[int, str]:
        """The notice addresses by account id (for the admins' account list)."""
        async with self._pool.acquire() as con:
            return await store.emails(con)

    async def change_own_password(
        self,
        account: Account,
        current: str,
        new: str,
        repeated: str,
        *,
        client: str,
        keep_session: str,
    ) -> int:
        """A person sets a new password of their own, on their current one (after a reset: the
        one-time password). The account's other sessions end, the one asking
        (``keep_session``, its token) goes on; a reset's mark is cleared. Returns how many
        sessions ended.

        Refused, naming the field (:data:`PASSWORD_FIELDS`): the new password too short, not
        the same twice, or the current one again; then the current one wrong. Only that
        last check looks at the current password, and it counts like a failed login of the
        account's username from ``client``: after too many the login throttle refuses
        (:class:`LoginRefused` ``throttled``), here and at the login page alike.
        """
        if account.sso:
            raise _refused("current_password", NO_LOCAL_PASSWORD)
        problems: list[FieldError] = []
        if not current:
            problems.append(FieldError(field="current_password", reason=_NO_CURRENT))
        odd = forbidden_character(new)
        if len(new) < MIN_PASSWORD_LENGTH:
            problems.append(FieldError(field="new_password", reason=_TOO_SHORT))
        elif odd is not None:
            problems.append(FieldError(field="new_password", reason=describe_de(odd)))
        elif new == current:
            problems.append(FieldError(field="new_password", reason=_SAME_AS_BEFORE))
        if repeated != new:
            problems.append(FieldError(field="new_password_repeated", reason=_NOT_REPEATED))
        if problems:
            raise AccountError(" ".join(problem.reason for problem in problems), problems)
        try:
            verified, stored = await self._verified(account.username, current, client=client)
        except LoginRefused as refused:
            if refused.reason == "throttled":
                raise
            raise _refused("current_password", _WRONG_CURRENT) from None
        password_hash = await self._hash(new)
        async with self._pool.acquire() as con, con.transaction():
            changed = await store.replace_password_hash(
                con, verified.account_id, stored, password_hash
            )
            if not changed:  # another change (or a reset) came between the check and now
                raise _refused("current_password", _CHANGED_MEANWHILE)
            ended = await store.delete_sessions_of(
                con, verified.account_id, keep=_digest(keep_session)
            )
            await self._audit(
                con,
                verified,
                AuditAction.PASSWORD_CHANGED,
                {"account_id": verified.account_id, "sessions_ended": ended},
            )
        return ended

    async def reset_password(
        self, account_id: int, *, by: Account | None = None
    ) -> tuple[Account, str]:
        """A one-time password for the account, made here and returned once (only its hash is
        stored): the account's sessions end, and at its next login the person must set a
        password of their own before anything else opens. API tokens are not affected: they
        belong to back-office systems, not to an account.

        An admin cannot reset their own password: they change it, knowing the current one.
        """
        if by is not None and by.account_id == account_id:
            raise AccountError(
                "Ihr eigenes Passwort setzen Sie nicht zurück, Sie ändern es: "
                "unter „Passwort ändern“."
            )
        one_time = one_time_password()
        password_hash = await self._hash(one_time)
        async with self._pool.acquire() as con, con.transaction():
            account = await store.reset_password_hash(con, account_id, password_hash)
            if account is None:
                await self._refuse_unknown_or_sso(con, account_id)
            ended = await store.delete_sessions_of(con, account_id)
            await self._audit(
                con,
                by,
                AuditAction.PASSWORD_RESET,
                {"account_id": account_id, "sessions_ended": ended},
            )
        return account, one_time

    async def account_named(self, username: str) -> Account:
        _check_text("Benutzername", username)
        async with self._pool.acquire() as con:
            account = await store.account_by_username(con, username)
        if account is None:
            raise AccountError(f"Ein Konto {username!r} gibt es nicht.")
        return account

    @staticmethod
    async def _refuse_unknown_or_sso(con: Connection, account_id: int) -> NoReturn:
        """Why a password could not be set: no such account, or one of single sign-on."""
        account = await store.account_by_id(con, account_id)
        if account is not None and account.sso:
            raise AccountError(NO_LOCAL_PASSWORD)
        raise AccountError("Unbekanntes Konto.")

    @staticmethod
    def _check_password(password: str) -> None:
        """At least 12 characters, none a control character (no keyboard types one, and a
        lone surrogate could not even be hashed)."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(_TOO_SHORT)
        _check_text("Passwort", password)

    # ----------------------------------------------------------- API tokens

    async def create_api_token(self, name: str, *, by: Account | None = None) -> str:
        """A new token, returned once. Its name is used once: a name any token has had, a
        revoked one too, is refused (the listing, ``revoke_api_tokens`` and the audit log
        then always mean one token by it)."""
        _check_text("Name", name)  # before stripping: str.strip() takes U+0085 as a space
        name = name.strip()
        if not name:
            raise AccountError("Name: Bitte einen Namen angeben, z. B. backoffice.")
        token = secrets.token_hex(32)
        async with self._pool.acquire() as con, con.transaction():
            token_id = await store.insert_api_token(con, name, _digest(token))
            if token_id is not None:
                await self._audit(
                    con, by, AuditAction.TOKEN_CREATED, {"token_id": token_id, "name": name}
                )
        if token_id is None:
            raise AccountError(
                f"Name: Ein API-Token namens {name!r} gab es schon (auch ein widerrufenes "
                "behält seinen Namen). Bitte einen neuen Namen wählen, z. B. "
                f"{name}-2."
            )
        return token

    async def revoke_api_tokens(self, name: str, *, by: Account | None = None) -> int:
        """Revoke the token of ``name`` if it is active (at once: the next request is refused);
        how many were revoked. Names are used once (migration 024): at most one."""
        _check_text("Name", name)
        name = name.strip()
        async with self._pool.acquire() as con, con.transaction():
            revoked = await store.revoke_api_tokens(con, name)
            if revoked:
                detail: dict[str, DetailValue] = {"token_ids": list(revoked), "name": name}
                await self._audit(con, by, AuditAction.TOKEN_REVOKED, detail)
        return len(revoked)

    async def list_api_tokens(self) -> list[ApiToken]:
        async with self._pool.acquire() as con:
            return await store.list_api_tokens(con)

    async def token_is_valid(self, token: str) -> bool:
        return await self.token_caller(token) is not None

    async def token_caller(self, token: str) -> BackOffice | None:
        """The back-office system of a valid (unrevoked) API token, else None."""
        if not token:
            return None
        async with self._pool.acquire() as con:
            token_id = await store.api_token_id(con, _digest(token))
        return None if token_id is None else BackOffice(token_id=token_id)

    # ----------------------------------------------------------- access log

    async def access_log(self, case_id: str) -> list[AccessLogEntry]:
        async with self._pool.acquire() as con:
            return await store.access_log(con, case_id)

    # ------------------------------------------------------------ audit log

    async def _audit(
        self,
        con: Connection,
        by: Account | None,
        action: AuditAction,
        detail: dict[str, DetailValue],
    ) -> None:
        """Append last in the caller's transaction: the append lock is held until commit."""
        if by is not None:
            draft = AuditDraft.by(by, action, detail=detail)
        else:
            draft = AuditDraft(
                actor=self._system_actor, role=SYSTEM_ROLE, action=action, detail=detail
            )
        await audit.append(con, draft)
