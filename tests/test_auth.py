"""Accounts, roles and sessions: who may call which endpoint, and how logins behave.

The role table below is the specification of the JSON API's access rules: every endpoint is
called by every kind of caller; the allowed ones must get past authentication (whatever the
answer then is: 200, 404, 422), the others must get 401 (nobody known) or 403 (wrong role).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Response

from api.auth import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from commands import accounts as accounts_cli
from config.settings import Settings
from runtime.main import _development_cookies
from schemas.accounts import Role
from service.accounts import AccountService
from service.errors import AccountError, LoginRefused
from tests.test_api import (
    PASSWORD,
    V1,
    account_service,
    complete,
    conversation,
    http_client,
    login_session,
    new_case_id,
    open_case,
    the_task,
    to_follow_up,
    today,
)

CALLERS = ("anonymous", "token", "abh", "ki", "ops", "admin", "reporting")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: frozenset[str]
    json: object | None = None
    params: dict[str, str] | None = None
    prefix: str = V1  # the probes live outside /api/v1, where orchestrators look for them
    # Who is refused as not logged in (401) rather than as not allowed (403): a route that takes
    # a token alone refuses a person's session as no login for it.
    unauthenticated: frozenset[str] = frozenset({"anonymous", "token"})


_PARTNER = {"name": "Rollentest", "kind": "ehrenamt", "town": "Unna", "contact": "x@example.org"}
_OFFER = {"name": "Rollentest", "category": "language_course", "address": "A", "hours": "H"}
_UNKNOWN_CASE = "ROLE-unknown"
_UNKNOWN_TASK = "00000000-0000-4000-8000-000000000000"

# Each request is chosen so that an allowed caller changes nothing: unknown ids (404), or an
# event that cannot open a case (422).
ENDPOINTS = [
    Endpoint(
        "GET",
        f"/reported-cases/{_UNKNOWN_CASE}",
        frozenset({"token"}),
        unauthenticated=frozenset({"anonymous", "abh", "ki", "ops", "admin", "reporting"}),
    ),
    Endpoint(
        "POST",
        "/status-events",
        frozenset({"token", "admin"}),
        json={
            "event_id": "ROLE-e1",
            "case_id": _UNKNOWN_CASE,
            "status": "ausgereist",
            "effective_date": "2026-01-05",
        },
    ),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}", frozenset({"abh", "ki"})),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/consent-withdrawal",
        frozenset({"abh"}),
        json={"withdrawn_on": "2026-01-05"},
    ),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/route-failure",
        frozenset({"abh"}),
        json={"failed_on": "2026-01-05", "reason": "abgelehnt"},
    ),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/departure-deadline",
        frozenset({"abh"}),
        json={"new_deadline": "2027-01-05", "reason": "Pass beantragt"},
    ),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/supporters",
        frozenset({"abh", "ki"}),
        json={"name": "Jemand", "contact": "0170 000000", "is_representative": False},
    ),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/departure",
        frozenset({"abh"}),
        json={
            "kind": "self_organised",
            "proof": "other",
            "crossed_on": "2026-01-05",
            "description": "Bestätigung der Botschaft",
        },
    ),
    Endpoint(
        "POST",
        f"/cases/{_UNKNOWN_CASE}/reopen",
        frozenset({"abh"}),
        json={"status": "ausreisepflichtig", "effective_date": "2026-01-05"},
    ),
    Endpoint("GET", "/cases", frozenset({"abh", "ki"})),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}/notes", frozenset({"abh"})),
    Endpoint("POST", f"/cases/{_UNKNOWN_CASE}/notes", frozenset({"abh"}), json={"text": "x"}),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}/attachments", frozenset({"abh", "ki"})),
    Endpoint("POST", f"/cases/{_UNKNOWN_CASE}/attachments", frozenset({"abh", "ki"})),
    Endpoint(
        "GET", f"/cases/{_UNKNOWN_CASE}/attachments/{_UNKNOWN_TASK}", frozenset({"abh", "ki"})
    ),
    Endpoint("GET", "/tasks", frozenset({"abh", "ki"})),
    Endpoint(
        "POST",
        f"/tasks/{_UNKNOWN_TASK}/complete",
        frozenset({"abh", "ki"}),
        json={"kind": "follow_up", "reached": True},
    ),
    Endpoint("POST", f"/tasks/{_UNKNOWN_TASK}/claim", frozenset({"abh", "ki"})),
    Endpoint("POST", f"/tasks/{_UNKNOWN_TASK}/release", frozenset({"abh", "ki"})),
    Endpoint(
        "POST",
        f"/tasks/{_UNKNOWN_TASK}/hand-over",
        frozenset({"abh", "ki"}),
        json={"assignee": 999999, "comment": "Rollentest"},
    ),
    Endpoint(
        "POST", f"/tasks/{_UNKNOWN_TASK}/deputy", frozenset({"abh", "ki"}), json={"reason": "x"}
    ),
    # Team leads only (an ABH or KI account with the flag): none of the callers here is one;
    # tests/test_teamwork.py calls it as a lead.
    Endpoint(
        "POST", "/tasks/assign", frozenset(), json={"task_ids": [_UNKNOWN_TASK], "assignee": None}
    ),
    Endpoint("GET", "/partners", frozenset({"abh", "ki", "admin"})),
    Endpoint("GET", "/partners/999999", frozenset({"abh", "ki", "admin"})),
    Endpoint("POST", "/partners", frozenset({"admin"}), json={**_PARTNER, "kind": "verein"}),
    Endpoint("PUT", "/partners/999999", frozenset({"admin"}), json=_PARTNER),
    Endpoint("DELETE", "/partners/999999", frozenset({"admin"})),
    Endpoint("GET", "/offers", frozenset({"abh", "ki", "admin"})),
    Endpoint("GET", "/offers/999999", frozenset({"abh", "ki", "admin"})),
    Endpoint("POST", "/offers", frozenset({"admin"}), json={**_OFFER, "category": "verein"}),
    Endpoint("PUT", "/offers/999999", frozenset({"admin"}), json=_OFFER),
    Endpoint("DELETE", "/offers/999999", frozenset({"admin"})),
    # An unknown town: nothing is rendered or stored.
    Endpoint("GET", "/flyers/Rollentest", frozenset({"abh", "ki", "admin"})),
    Endpoint("GET", "/flyers", frozenset({"abh", "ki", "admin"})),
    Endpoint("GET", f"/flyer-versions/{_UNKNOWN_TASK}", frozenset({"abh", "ki", "admin"})),
    Endpoint("GET", "/admin/access-log", frozenset({"admin"}), params={"case_id": _UNKNOWN_CASE}),
    Endpoint("GET", "/admin/webhooks", frozenset({"admin"})),
    # An invalid URL: an allowed caller changes nothing (422).
    Endpoint("POST", "/admin/webhooks", frozenset({"admin"}), json={"name": "x", "url": "ftp:"}),
    Endpoint("DELETE", "/admin/webhooks/nobody", frozenset({"admin"})),
    Endpoint(
        "PUT",
        f"/admin/cases/{_UNKNOWN_CASE}/legal-hold",
        frozenset({"admin"}),
        json={"reason": "Rollentest"},
    ),
    Endpoint("DELETE", f"/admin/cases/{_UNKNOWN_CASE}/legal-hold", frozenset({"admin"})),
    Endpoint(
        "GET",
        "/admin/disclosures",
        frozenset({"admin"}),
        params={"from": "2026-01-01", "to": "2026-01-31"},
    ),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}/access-report", frozenset({"abh", "admin"})),
    Endpoint("GET", "/operations/figures", frozenset({"ops", "admin"})),
    # A reversed period (422): nothing is made or logged.
    Endpoint(
        "GET",
        "/reports/committee",
        frozenset({"admin", "reporting"}),
        params={"from": "2026-01-31", "to": "2026-01-01"},
    ),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}/documents", frozenset({"abh"})),
    Endpoint("GET", f"/cases/{_UNKNOWN_CASE}/documents/{_UNKNOWN_TASK}", frozenset({"abh"})),
    # Open to anyone: names of checks and numbers only (/metrics wants CASE_METRICS_TOKEN
    # when it is set: tests/test_health.py).
    Endpoint("GET", "/healthz", frozenset(CALLERS), prefix=""),
    Endpoint("GET", "/readyz", frozenset(CALLERS), prefix=""),
    Endpoint("GET", "/metrics", frozenset(CALLERS), prefix=""),
]


async def client_of(app: FastAPI, caller: str) -> httpx.AsyncClient:
    if caller == "anonymous":
        return http_client(app)
    if caller == "token":
        return http_client(app, token=await account_service(app).create_api_token("backoffice"))
    return http_client(app, session=await login_session(app, caller))


async def test_every_route_is_in_the_role_table(app: FastAPI) -> None:
    async with http_client(app) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    listed = {
        (method.upper(), path)
        for path, methods in paths.items()
        if path.startswith(V1) or path in ("/healthz", "/readyz", "/metrics")
        for method in methods
    }
    templates = {
        ("GET", f"{V1}/reported-cases/{{case_id}}"),
        ("GET", f"{V1}/cases/{{case_id}}"),
        ("POST", f"{V1}/cases/{{case_id}}/consent-withdrawal"),
        ("POST", f"{V1}/cases/{{case_id}}/notes"),
        ("GET", f"{V1}/cases/{{case_id}}/notes"),
        ("GET", f"{V1}/cases/{{case_id}}/attachments"),
        ("POST", f"{V1}/cases/{{case_id}}/attachments"),
        ("GET", f"{V1}/cases/{{case_id}}/attachments/{{attachment_id}}"),
        ("POST", f"{V1}/cases/{{case_id}}/supporters"),
        ("POST", f"{V1}/cases/{{case_id}}/route-failure"),
        ("POST", f"{V1}/cases/{{case_id}}/departure-deadline"),
        ("POST", f"{V1}/tasks/{{task_id}}/complete"),
        ("POST", f"{V1}/tasks/assign"),
        ("GET", f"{V1}/operations/figures"),
        ("POST", f"{V1}/tasks/{{task_id}}/claim"),
        ("POST", f"{V1}/tasks/{{task_id}}/release"),
        ("POST", f"{V1}/tasks/{{task_id}}/hand-over"),
        ("POST", f"{V1}/tasks/{{task_id}}/deputy"),
        ("POST", f"{V1}/cases/{{case_id}}/departure"),
        ("POST", f"{V1}/cases/{{case_id}}/reopen"),
        ("GET", f"{V1}/partners/{{partner_id}}"),
        ("PUT", f"{V1}/partners/{{partner_id}}"),
        ("DELETE", f"{V1}/partners/{{partner_id}}"),
        ("POST", f"{V1}/status-events"),
        ("GET", f"{V1}/tasks"),
        ("GET", f"{V1}/cases"),
        ("GET", f"{V1}/partners"),
        ("POST", f"{V1}/partners"),
        ("GET", f"{V1}/admin/access-log"),
        ("PUT", f"{V1}/admin/cases/{{case_id}}/legal-hold"),
        ("DELETE", f"{V1}/admin/cases/{{case_id}}/legal-hold"),
        ("GET", f"{V1}/admin/disclosures"),
        ("GET", f"{V1}/admin/webhooks"),
        ("POST", f"{V1}/admin/webhooks"),
        ("DELETE", f"{V1}/admin/webhooks/{{name}}"),
        ("GET", f"{V1}/reports/committee"),
        ("GET", f"{V1}/cases/{{case_id}}/access-report"),
        ("GET", f"{V1}/cases/{{case_id}}/documents"),
        ("GET", f"{V1}/cases/{{case_id}}/documents/{{document_id}}"),
        ("GET", f"{V1}/offers"),
        ("POST", f"{V1}/offers"),
        ("GET", f"{V1}/offers/{{offer_id}}"),
        ("PUT", f"{V1}/offers/{{offer_id}}"),
        ("DELETE", f"{V1}/offers/{{offer_id}}"),
        ("GET", f"{V1}/flyers"),
        ("GET", f"{V1}/flyers/{{town}}"),
        ("GET", f"{V1}/flyer-versions/{{flyer_id}}"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }
    assert listed == templates
    assert len(ENDPOINTS) == len(templates)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_each_role_gets_exactly_its_endpoints(app: FastAPI, endpoint: Endpoint) -> None:
    for caller in CALLERS:
        async with await client_of(app, caller) as http:
            response = await http.request(
                endpoint.method,
                endpoint.prefix + endpoint.path,
                json=endpoint.json,
                params=endpoint.params,
            )
        if caller in endpoint.allowed:
            assert response.status_code not in (401, 403), (caller, response.text)
        else:
            expected = 401 if caller in endpoint.unauthenticated else 403
            assert response.status_code == expected, (caller, response.text)
            assert isinstance(response.json()["detail"], str)


async def test_tasks_of_the_other_inbox_are_refused(
    app: FastAPI, http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await open_case(http)
    assert (await ki.get(f"{V1}/tasks", params={"queue": "abh"})).status_code == 403
    assert (await http.get(f"{V1}/tasks", params={"queue": "ki"})).status_code == 403
    # Without a queue each sees its own inbox.
    own = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
    assert [task["queue"] for task in own] == ["abh"]
    assert (await ki.get(f"{V1}/tasks", params={"case_id": case_id})).json() == []
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    refused = await complete(ki, task_id, conversation())
    assert refused.status_code == 403
    assert (await complete(http, task_id, conversation())).status_code == 200


async def test_the_ki_cannot_find_a_case_without_consent_by_guessing_its_id(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    unknown = await ki.get(f"{V1}/cases/{new_case_id()}")
    case_id = await open_case(http)
    guessed = await ki.get(f"{V1}/cases/{case_id}")
    # The same answer, but for the path each asked for.
    assert guessed.status_code == unknown.status_code
    assert {**guessed.json(), "instance": None} == {**unknown.json(), "instance": None}
    assert guessed.status_code == 404
    assert guessed.headers == unknown.headers


async def test_the_ki_reads_a_case_disclosed_to_it_until_consent_is_withdrawn(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await to_follow_up(http, ki)
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 200
    withdrawn = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    after = await ki.get(f"{V1}/cases/{case_id}")
    assert after.status_code == 404
    assert after.json()["detail"] == "unknown case"


async def test_reading_a_case_is_logged_and_only_admins_read_the_log(
    app: FastAPI, http: httpx.AsyncClient, admin: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await open_case(http)
    assert (await http.get(f"{V1}/cases/{case_id}")).status_code == 200
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 404  # not logged: not shown
    log = await admin.get(f"{V1}/admin/access-log", params={"case_id": case_id})
    assert log.status_code == 200
    [entry] = log.json()
    assert entry["case_id"] == case_id
    assert entry["role"] == "abh"
    assert entry["username"].startswith("abh-")
    assert entry["what"] == "api: case view"
    assert entry["at"]
    for reader in (http, ki):
        refused = await reader.get(f"{V1}/admin/access-log", params={"case_id": case_id})
        assert refused.status_code == 403


# ------------------------------------------------------------- same origin


async def test_a_cross_origin_post_with_the_session_cookie_is_refused(app: FastAPI) -> None:
    session = await login_session(app, Role.ABH)
    url = f"{V1}/cases/{new_case_id()}/supporters"
    body = {"name": "Jemand", "contact": "0170 000000", "is_representative": False}
    async with http_client(app, session=session) as http:
        evil = await http.post(url, json=body, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403
        assert evil.json()["detail"] == "cross-origin request refused"
        other_port = await http.post(url, json=body, headers={"origin": "http://test:8080"})
        assert other_port.status_code == 403
        null = await http.post(url, json=body, headers={"origin": "null"})
        assert null.status_code == 403
        # Without Origin the Referer decides; with neither the request is refused.
        del http.headers["origin"]
        assert (await http.post(url, json=body)).status_code == 403
        referred = await http.post(url, json=body, headers={"referer": "http://test/inbox"})
        assert referred.status_code == 404  # through the check: the case is unknown
        foreign = await http.post(url, json=body, headers={"referer": "http://evil/x"})
        assert foreign.status_code == 403
        # Reading is never refused for its origin.
        assert (await http.get(f"{V1}/partners")).status_code == 200


async def test_a_bearer_token_without_cookie_needs_no_origin(app: FastAPI) -> None:
    token = await account_service(app).create_api_token("backoffice")
    async with http_client(app, token=token) as http:
        del http.headers["origin"]
        response = await http.post(
            f"{V1}/status-events",
            json={
                "event_id": "X-e1",
                "case_id": new_case_id(),
                "status": "ausgereist",
                "effective_date": str(today()),
            },
            headers={"origin": "https://elsewhere.example"},
        )
    assert response.status_code == 422  # past the checks: the event cannot open a case


async def test_a_wrong_token_is_401_and_tokens_open_nothing_but_intake(app: FastAPI) -> None:
    async with http_client(app, token="nonsense") as http:
        response = await http.post(f"{V1}/status-events", json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    token = await account_service(app).create_api_token("backoffice")
    async with http_client(app, token=token) as http:
        assert (await http.get(f"{V1}/tasks")).status_code == 401
        assert (await http.get(f"{V1}/partners")).status_code == 401


# ------------------------------------------------- logins, sessions, passwords


@pytest.fixture
async def service(pool: asyncpg.Pool) -> AccountService:
    return AccountService(pool)


async def test_login_succeeds_with_the_right_password_only(service: AccountService) -> None:
    created = await service.create_account("m.muster", "M. Muster", Role.ABH, PASSWORD)
    account = await service.authenticate("m.muster", PASSWORD, client="10.0.0.1")
    assert account == created
    assert account.role is Role.ABH and account.active
    with pytest.raises(LoginRefused) as wrong:
        await service.authenticate("m.muster", "falsch falsch falsch", client="10.0.0.1")
    assert wrong.value.reason == "invalid"
    assert wrong.value.message == "Benutzername oder Passwort ist falsch."
    with pytest.raises(LoginRefused) as unknown:
        await service.authenticate("niemand", PASSWORD, client="10.0.0.1")
    assert unknown.value.reason == "invalid"


async def test_the_sixth_attempt_is_refused_even_with_the_right_password(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    await service.create_account("k.lein", "K. Lein", Role.KI, PASSWORD)
    for attempt in range(5):
        with pytest.raises(LoginRefused) as refused:
            await service.authenticate("k.lein", f"falsch {attempt}", client=f"10.0.0.{attempt}")
        assert refused.value.reason == "invalid"
    with pytest.raises(LoginRefused) as throttled:
        await service.authenticate("k.lein", PASSWORD, client="10.9.9.9")
    assert throttled.value.reason == "throttled"
    assert "Zu viele" in throttled.value.message
    # Once the failures are older than the window, the right password works again.
    await pool.execute("UPDATE login_failures SET at = at - interval '16 minutes'")
    assert (await service.authenticate("k.lein", PASSWORD, client="10.9.9.9")).username == "k.lein"


async def test_one_client_trying_many_usernames_is_throttled(service: AccountService) -> None:
    await service.create_account("a.dmin", "A. Dmin", Role.ADMIN, PASSWORD)
    for n in range(5):
        with pytest.raises(LoginRefused):
            await service.authenticate(f"rate{n}", "falsch falsch", client="192.0.2.7")
    with pytest.raises(LoginRefused) as throttled:
        await service.authenticate("a.dmin", PASSWORD, client="192.0.2.7")
    assert throttled.value.reason == "throttled"
    assert (await service.authenticate("a.dmin", PASSWORD, client="192.0.2.8")).role is Role.ADMIN


async def test_passwords_and_session_tokens_are_stored_hashed(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    account = await service.create_account("h.ash", "H. Ash", Role.OPS, PASSWORD)
    stored = await pool.fetchval("SELECT password_hash FROM accounts WHERE username = 'h.ash'")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    token = await service.open_session(account)
    hashes = [row["token_hash"] for row in await pool.fetch("SELECT token_hash FROM sessions")]
    assert len(hashes) == 1 and token.encode() not in hashes[0] and len(hashes[0]) == 32
    api_token = await service.create_api_token("backoffice")
    stored_token = await pool.fetchval("SELECT token_hash FROM api_tokens")
    assert api_token.encode() != stored_token
    assert await service.token_is_valid(api_token)
    assert not await service.token_is_valid(api_token + "x")
    assert not await service.token_is_valid("")


async def test_short_passwords_and_taken_usernames_are_refused(service: AccountService) -> None:
    with pytest.raises(AccountError, match="mindestens 12 Zeichen"):
        await service.create_account("kurz", "Kurz", Role.ABH, "kurz")
    await service.create_account("doppelt", "Doppelt", Role.ABH, PASSWORD)
    with pytest.raises(AccountError, match="gibt es schon"):
        await service.create_account("doppelt", "Doppelt", Role.KI, PASSWORD)


async def test_a_session_ends_at_its_expiry_when_idle_and_at_logout(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    account = await service.create_account("s.ession", "S. Ession", Role.ABH, PASSWORD)
    token = await service.open_session(account)
    assert await service.session_account(token) == account
    assert await service.session_account(token + "x") is None
    assert await service.session_account("") is None

    await pool.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert await service.session_account(token) is None

    idle = await service.open_session(account)
    await pool.execute(
        "UPDATE sessions SET last_seen = now() - interval '31 minutes' WHERE expires_at > now()"
    )
    assert await service.session_account(idle) is None

    active = await service.open_session(account)
    await pool.execute(
        "UPDATE sessions SET last_seen = now() - interval '29 minutes' WHERE expires_at > now()"
    )
    assert await service.session_account(active) == account  # and this slides the idle end
    slid = await pool.fetchval(
        "SELECT last_seen > now() - interval '1 minute' FROM sessions WHERE token_hash = $1",
        hashlib.sha256(active.encode()).digest(),
    )
    assert slid is True

    await service.close_session(active)
    assert await service.session_account(active) is None


async def test_deactivating_or_a_new_password_ends_sessions(service: AccountService) -> None:
    account = await service.create_account("d.eakt", "D. Eakt", Role.KI, PASSWORD)
    token = await service.open_session(account)
    await service.set_active(account.account_id, False)
    assert await service.session_account(token) is None
    with pytest.raises(LoginRefused):
        await service.authenticate("d.eakt", PASSWORD, client="10.0.0.1")
    await service.set_active(account.account_id, True)
    token = await service.open_session(account)
    await service.set_password(account.account_id, "ein ganz neues Passwort")
    assert await service.session_account(token) is None
    assert await service.authenticate("d.eakt", "ein ganz neues Passwort", client="10.0.0.1")
    assert [a.username for a in await service.list_accounts()] == ["d.eakt"]


async def test_an_expired_or_closed_session_is_401_in_the_api(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    session = await login_session(app, Role.ABH)
    async with http_client(app, session=session) as http:
        assert (await http.get(f"{V1}/tasks")).status_code == 200
        await pool.execute("UPDATE sessions SET expires_at = now()")
        assert (await http.get(f"{V1}/tasks")).status_code == 401
    session = await login_session(app, Role.ABH)
    async with http_client(app, session=session) as http:
        await account_service(app).close_session(session)
        assert (await http.get(f"{V1}/tasks")).status_code == 401


def test_the_session_cookie_flags() -> None:
    response = Response()
    set_session_cookie(response, "abc", secure=True)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=abc;")
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure"):
        assert flag in header
    plain = Response()
    set_session_cookie(plain, "abc", secure=False)
    assert "Secure" not in plain.headers["set-cookie"]
    cleared = Response()
    clear_session_cookie(cleared)
    assert "Max-Age=0" in cleared.headers["set-cookie"]


def test_only_the_loopback_development_run_drops_the_secure_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CASE_COOKIE_SECURE", raising=False)
    settings = Settings()
    assert settings.cookie_secure is True
    assert _development_cookies(settings).cookie_secure is False
    public = settings.model_copy(update={"api_host": "0.0.0.0"})
    assert _development_cookies(public).cookie_secure is True
    monkeypatch.setenv("CASE_COOKIE_SECURE", "true")
    assert _development_cookies(Settings()).cookie_secure is True


# ---------------------------------------------------------------- the CLI


async def test_the_accounts_cli_creates_the_first_admin_and_a_token(
    dsn: str, pool: asyncpg.Pool
) -> None:
    settings = Settings().model_copy(update={"database_url": dsn})
    out = io.StringIO()
    code = await accounts_cli.run(
        ["create", "--username", "erste.admin", "--display-name", "Erste Admin", "--role",
         "admin", "--password-stdin"],
        settings=settings, out=out, stdin=io.StringIO(PASSWORD + "\n"),
    )  # fmt: skip
    assert code == 0, out.getvalue()
    assert "erste.admin (admin)" in out.getvalue()
    service = AccountService(pool)
    assert (await service.authenticate("erste.admin", PASSWORD, client="cli")).role is Role.ADMIN

    out = io.StringIO()
    assert (
        await accounts_cli.run(["token", "--name", "backoffice"], settings=settings, out=out) == 0
    )
    assert await service.token_is_valid(out.getvalue().strip())

    out = io.StringIO()
    assert await accounts_cli.run(["list"], settings=settings, out=out) == 0
    assert "admin  erste.admin  Erste Admin" in out.getvalue()

    again = await accounts_cli.run(
        ["create", "--username", "erste.admin", "--display-name", "X", "--role", "abh",
         "--password-stdin"],
        settings=settings, out=io.StringIO(), stdin=io.StringIO(PASSWORD + "\n"),
    )  # fmt: skip
    assert again == 1


async def test_a_revoked_token_is_refused_at_the_next_request(
    app: FastAPI, dsn: str, pool: asyncpg.Pool
) -> None:
    settings = Settings().model_copy(update={"database_url": dsn})
    service = account_service(app)
    leaked = await service.create_api_token("backoffice")
    other = await service.create_api_token("fachverfahren")
    event = {"event_id": "rv-1", "case_id": "RV-1", "status": "weggezogen",
             "effective_date": "2026-01-01"}  # fmt: skip
    async with http_client(app, token=leaked) as http:
        # An unknown case moving away is refused by content (404), not by the token.
        assert (await http.post("/api/v1/status-events", json=event)).status_code != 401

        out = io.StringIO()
        code = await accounts_cli.run(
            ["revoke-token", "--name", "backoffice"], settings=settings, out=out
        )
        assert code == 0 and "revoked 1 API token(s) named backoffice" in out.getvalue()
        assert (await http.post("/api/v1/status-events", json=event)).status_code == 401
    assert await service.token_is_valid(other)

    out = io.StringIO()
    assert await accounts_cli.run(["tokens"], settings=settings, out=out) == 0
    listing = out.getvalue()
    assert "backoffice" in listing and "revoked" in listing and "fachverfahren" in listing
    assert leaked not in listing and other not in listing
    # Revoking again names the problem instead of pretending.
    assert await accounts_cli.run(["revoke-token", "--name", "backoffice"], settings=settings) == 1
