"""Single sign-on against a real OpenID provider: panva's ``oidc-provider`` under Node.js
(tests/fixtures/oidc/provider.mjs, installed into .data/npm by ``python3 manage.py test``).

The HTTP tests are a browser's walk: an httpx client whose requests to ``http://sso.test`` go
to the app (ASGI) and every other one to the provider on its loopback port, following the real
redirects by hand and filling in the provider's login form. One test does the same in
Chromium, with the keyboard, and has axe-core check the login page.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr, ValidationError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.app import create_app
from schemas.accounts import Account, Role
from schemas.sso import SsoFlow
from service.accounts import AccountService
from service.errors import AccountError, ServiceUnavailable, SsoRefused
from service.sso import SingleSignOn, code_challenge
from store import audit
from tests.browserkit import (
    ROOT,
    assert_accessible,
    serving_on_loopback,
    tab_to,
    type_into,
    watch_csp,
)
from tests.sitekit import PASSWORD
from web.routes.login import SSO_ANSWER, SSO_FLOW_COOKIE, SSO_START

NODE = shutil.which("node")
PROVIDER_MODULE = ROOT / ".data" / "npm" / "node_modules" / "oidc-provider" / "lib" / "index.js"
PROVIDER_SCRIPT = ROOT / "tests" / "fixtures" / "oidc" / "provider.mjs"
APP = "http://sso.test"
CLIENT_ID = "fallsteuerung"
CLIENT_SECRET = "ein-geheimnis-nur-fuer-die-tests"
KREIS_PASSWORD = "kreis-passwort-2026"  # every person's at the test provider
ROLE_GROUPS = {
    "GG-Fallsteuerung-ABH": Role.ABH,
    "GG-Fallsteuerung-KI": Role.KI,
    "GG-Fallsteuerung-Betrieb": Role.OPS,
    "GG-Fallsteuerung-Admin": Role.ADMIN,
}


@dataclass(frozen=True)
class Provider:
    issuer: str
    browser_port: int  # the app's port in the browser test: registered as a redirect URI

    def set_groups(self, login: str, groups: list[str]) -> None:
        response = httpx.post(
            f"{self.issuer}/__test__/groups",
            json={"login": login, "groups": groups},
            trust_env=False,
        )
        assert response.status_code == 204


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    if NODE is None or not PROVIDER_MODULE.exists():
        pytest.fail(f"node or {PROVIDER_MODULE} is missing: run the tests with manage.py test")
    browser_port = _free_port()
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [
                f"{APP}{SSO_ANSWER}",
                f"http://127.0.0.1:{browser_port}{SSO_ANSWER}",
            ],
        }
    ]
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    env = {
        **os.environ,
        "OIDC_PROVIDER_MODULE": str(PROVIDER_MODULE),
        "OIDC_TEST_CLIENTS": json.dumps(clients),
    }
    with log.open("w") as errors:
        process = subprocess.Popen(
            [NODE, str(PROVIDER_SCRIPT)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("issuer "):
            pytest.fail(f"the OpenID provider did not start: {log.read_text()}")
        yield Provider(line.split()[1], browser_port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def sso_settings(issuer: str, **changes: Any) -> Settings:
    return Settings().model_copy(
        update={
            "task_queue": "sso-tests",  # no worker: logging in starts no workflow
            "cookie_secure": False,
            "oidc_issuer": issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": None,
            "oidc_role_groups": ROLE_GROUPS,
            **changes,
        }
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "oidc-client-secret"
    path.write_text(CLIENT_SECRET + "\n")
    return path


async def _app(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def sso_app(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, oidc_provider: Provider, secret_file: Path
) -> AsyncIterator[FastAPI]:
    """The app with single sign-on, the client secret read from a file (as operators should)."""
    settings = sso_settings(oidc_provider.issuer, oidc_client_secret_file=secret_file)
    async for app in _app(dev_env, pool, settings):
        yield app


def accounts_of(app: FastAPI) -> AccountService:
    service: AccountService = app.state.accounts
    return service


def browser(app: FastAPI) -> httpx.AsyncClient:
    """One browser: the app at ``APP``, the provider on its real port, one cookie jar."""
    return httpx.AsyncClient(
        mounts={APP: httpx.ASGITransport(app=app)},
        base_url=APP,
        trust_env=False,
        timeout=30,
    )


_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


async def through_provider(http: httpx.AsyncClient, url: str, login: str | None) -> str:
    """Follow the provider's redirects by hand from ``url``, logging in at its form as
    ``login`` when it asks; the URL it sends the browser back to (our answer page)."""
    response = await http.get(url)
    while True:
        if response.is_redirect:
            target = str(response.url.join(response.headers["location"]))
            if target.startswith(APP):
                return target
            response = await http.get(target)
            continue
        assert response.status_code == 200, response.text
        form = _FORM_ACTION.search(response.text)
        assert form is not None and login is not None, response.text
        response = await http.post(
            response.url.join(form[1]), data={"login": login, "password": KREIS_PASSWORD}
        )
        login = None  # the form once: a second one is a refusal


async def start(http: httpx.AsyncClient, next_path: str = "/") -> str:
    response = await http.get(SSO_START, params={"next": next_path})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def sso_log_in(http: httpx.AsyncClient, login: str, next_path: str = "/") -> httpx.Response:
    """The whole login, as a browser goes it: our link, the provider, back, and on."""
    answer = await through_provider(http, await start(http, next_path), login)
    return await http.get(answer, follow_redirects=True)


async def audit_entries(pool: asyncpg.Pool) -> list[tuple[str, str, str, dict[str, Any]]]:
    async with pool.acquire() as con:
        return [(e.action, e.actor, e.role, e.detail) for e in await audit.entries(con, None)]


async def sso_account(app: FastAPI, username: str) -> Account:
    return await accounts_of(app).account_named(username)


# ------------------------------------------------------------------ the login


async def test_a_county_account_logs_in_gets_its_groups_role_and_the_usual_session(
    sso_app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with browser(sso_app) as http:
        page = await http.get("/login")
        assert page.status_code == 200
        assert "Mit dem Kreis-Konto anmelden" in page.text
        assert 'href="/login/kreis-konto?next=/"' in page.text

        location = await start(http, "/faelle")
        query = parse_qs(urlsplit(location).query)
        assert location.startswith(f"{accounts_of(sso_app).sso.issuer}/auth?")  # type: ignore[union-attr]
        assert query["code_challenge_method"] == ["S256"]
        assert query["client_id"] == [CLIENT_ID]
        assert query["redirect_uri"] == [f"{APP}{SSO_ANSWER}"]
        flow_cookie = next(c for c in http.cookies.jar if c.name == SSO_FLOW_COOKIE)
        assert flow_cookie.path == SSO_START and flow_cookie.has_nonstandard_attr("HttpOnly")
        flow = SsoFlow.model_validate_json(base64.urlsafe_b64decode(flow_cookie.value or ""))
        assert query["state"] == [flow.state] and query["nonce"] == [flow.nonce]
        assert query["code_challenge"] == [code_challenge(flow.code_verifier)]

        answer = await through_provider(http, location, "erika.abh")
        done = await http.get(answer)
        assert done.status_code == 303 and done.headers["location"] == "/faelle"
        assert "sitzung" in done.cookies and SSO_FLOW_COOKIE not in http.cookies
        cases = await http.get("/faelle")
        assert (
            cases.status_code == 200 and "Erika Mustermann (Ausländerbehörde (ABH))" in cases.text
        )
        # The same session as a local login's: the JSON API takes it too.
        tasks = await http.get("/api/v1/tasks")
        assert tasks.status_code == 200

    account = await sso_account(sso_app, "erika.abh")
    assert (account.role, account.display_name, account.sso) == (
        Role.ABH,
        "Erika Mustermann",
        True,
    )
    assert (
        await pool.fetchval(
            "SELECT oidc_subject FROM accounts WHERE account_id = $1", account.account_id
        )
        == "6f1c2a90-abh-erika"
    )
    assert await audit_entries(pool) == [
        ("account_created", "sso", "system",
         {"account_id": account.account_id, "username": "erika.abh", "role": "abh", "sso": True}),
        ("login", "erika.abh", "abh", {"account_id": account.account_id, "method": "sso"}),
    ]  # fmt: skip
    async with pool.acquire() as con:
        assert (await audit.verify(con)).ok


@pytest.mark.parametrize(
    ("login", "role", "start_page"),
    [("karl.ki", Role.KI, "/posteingang"), ("olga.betrieb", Role.OPS, "/betrieb"),
     ("ada.admin", Role.ADMIN, "/admin/konten")],
)  # fmt: skip
async def test_each_group_gives_its_role(
    sso_app: FastAPI, login: str, role: Role, start_page: str
) -> None:
    async with browser(sso_app) as http:
        landed = await sso_log_in(http, login)
    assert landed.status_code == 200 and landed.url.path == start_page
    assert (await sso_account(sso_app, login)).role is role
    if role is Role.ADMIN:  # the account list: no password, so nothing to reset
        assert "keines: Anmeldung mit dem Kreis-Konto" in landed.text
        assert "Passwort zurücksetzen" not in landed.text


async def test_the_role_follows_the_groups_at_every_login(
    sso_app: FastAPI, pool: asyncpg.Pool, oidc_provider: Provider
) -> None:
    try:
        async with browser(sso_app) as http:
            assert (await sso_log_in(http, "karl.ki")).url.path == "/posteingang"
            first = await sso_account(sso_app, "karl.ki")
            assert first.role is Role.KI

            # Moved to the ABH's group: the next login (the provider remembers the person,
            # so no form this time) gives the ABH's role, on the same account.
            oidc_provider.set_groups("karl.ki", ["GG-Fallsteuerung-ABH"])
            again = await sso_log_in(http, "karl.ki")
            assert (
                again.url.path == "/posteingang"
                and "Karl Kaiser (Ausländerbehörde (ABH))" in again.text
            )
            second = await sso_account(sso_app, "karl.ki")
            assert (second.account_id, second.role) == (first.account_id, Role.ABH)
            assert await pool.fetchval("SELECT count(*) FROM accounts") == 1

            # Out of every group of the application: refused, and the session in hand ends.
            oidc_provider.set_groups("karl.ki", ["GG-Alle"])
            refused = await sso_log_in(http, "karl.ki")
            assert refused.status_code == 403
            assert "keiner Rolle zugeordnet" in refused.text
            gone = await http.get("/posteingang")
            assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    finally:
        oidc_provider.set_groups("karl.ki", ["GG-Fallsteuerung-KI"])
    by_sso = [(a, d) for a, actor, _, d in await audit_entries(pool) if actor == "sso"]
    assert by_sso[1:] == [
        ("account_role_changed", {"account_id": first.account_id, "from": "ki", "to": "abh"}),
        ("login_refused",
         {"account_id": first.account_id, "reason": "no_role", "sessions_ended": 2}),
    ]  # fmt: skip


async def test_groups_of_no_role_or_of_several_roles_are_refused_in_german(
    sso_app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with browser(sso_app) as http:
        none = await sso_log_in(http, "nora.niemand")
    assert none.status_code == 403 and none.url.path == SSO_ANSWER
    assert "Ihr Kreis-Konto ist für die Ausreise-Fallsteuerung freigeschaltet, aber keiner " \
        "Rolle zugeordnet" in none.text  # fmt: skip
    assert 'role="alert"' in none.text and "Mit dem Kreis-Konto anmelden" in none.text
    async with browser(sso_app) as http:
        several = await sso_log_in(http, "doris.doppelt")
    assert several.status_code == 403
    assert "mehreren Rollen zugleich zugeordnet" in several.text
    assert "sitzung" not in several.cookies
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 0


async def test_a_deactivated_account_stays_refused(sso_app: FastAPI) -> None:
    async with browser(sso_app) as http:
        assert (await sso_log_in(http, "erika.abh")).status_code == 200
    account = await sso_account(sso_app, "erika.abh")
    await accounts_of(sso_app).set_active(account.account_id, False)
    async with browser(sso_app) as http:
        refused = await sso_log_in(http, "erika.abh")
    assert refused.status_code == 403 and "Ihr Konto ist deaktiviert" in refused.text
    assert "sitzung" not in refused.cookies


async def test_the_username_of_a_local_account_is_not_taken_over(sso_app: FastAPI) -> None:
    local = await accounts_of(sso_app).create_account(
        "paul.passwort", "Paul (lokal)", Role.KI, PASSWORD
    )
    async with browser(sso_app) as http:
        refused = await sso_log_in(http, "paul.passwort")
    assert refused.status_code == 403 and "gehört hier schon zu einem anderen Konto" in (
        refused.text
    )
    assert await sso_account(sso_app, "paul.passwort") == local


# ---------------------------------------------------------- refused answers


async def test_an_answer_with_a_wrong_state_or_for_another_browser_is_refused(
    sso_app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with browser(sso_app) as http:
        answer = await through_provider(http, await start(http), "erika.abh")
        query = parse_qs(urlsplit(answer).query)
        assert set(query) == {"code", "state", "iss"}

        # Another browser (no flow of its own: login CSRF) is refused ...
        async with browser(sso_app) as other:
            elsewhere = await other.get(answer)
        assert elsewhere.status_code == 400
        assert "gehört nicht zu diesem Browser" in elsewhere.text
        # ... and so is this browser's answer with another state.
        wrong = {**{k: v[0] for k, v in query.items()}, "state": secrets.token_urlsafe(32)}
        refused = await http.get(f"{SSO_ANSWER}?{urlencode(wrong)}")
        assert refused.status_code == 400 and "gehört nicht zu diesem Browser" in refused.text
        # The flow is used up by the refusal: not even the right answer passes after it.
        assert (await http.get(answer)).status_code == 400
        assert (await http.get(SSO_ANSWER)).status_code == 400  # nothing at all
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_a_flow_with_another_nonce_refuses_the_id_token(
    sso_app: FastAPI, pool: asyncpg.Pool
) -> None:
    async with browser(sso_app) as http:
        answer = await through_provider(http, await start(http), "erika.abh")
        cookie = next(c for c in http.cookies.jar if c.name == SSO_FLOW_COOKIE)
        flow = SsoFlow.model_validate_json(base64.urlsafe_b64decode(cookie.value or ""))
        other = flow.model_copy(update={"nonce": secrets.token_urlsafe(32)})
        cookie.value = base64.urlsafe_b64encode(other.model_dump_json().encode()).decode()
        refused = await http.get(answer)
    assert refused.status_code == 401
    assert "keine gültige Bestätigung" in refused.text
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_aborting_at_the_provider_is_said_on_the_login_page(sso_app: FastAPI) -> None:
    async with browser(sso_app) as http:
        form = await http.get(await start(http), follow_redirects=True)
        abort = re.search(r'<a href="([^"]+/abort)">Abbrechen</a>', form.text)
        assert abort is not None
        back = await http.get(form.url.join(abort[1]), follow_redirects=True)
    assert back.status_code == 401 and back.url.path == SSO_ANSWER
    assert "wurde abgebrochen" in back.text


async def id_token_for(provider: Provider, nonce: str) -> str:
    """An ID token the provider issues to our client, fetched as a client does (the whole
    code flow), to hand to the verification directly."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{APP}{SSO_ANSWER}",
        "scope": "openid profile",
        "state": secrets.token_urlsafe(32),
        "nonce": nonce,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        answer = await through_provider(
            http, f"{provider.issuer}/auth?{urlencode(params)}", "erika.abh"
        )
        code = parse_qs(urlsplit(answer).query)["code"][0]
        tokens = await http.post(
            f"{provider.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{APP}{SSO_ANSWER}",
                "code_verifier": verifier,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert tokens.status_code == 200, tokens.text
    token: str = tokens.json()["id_token"]
    return token


async def test_the_id_token_is_checked_for_audience_nonce_signature_and_issuer(
    oidc_provider: Provider,
) -> None:
    nonce = secrets.token_urlsafe(32)
    raw = await id_token_for(oidc_provider, nonce)
    ours = SingleSignOn(sso_settings(oidc_provider.issuer))
    claims = await ours.verify_id_token(raw, nonce)
    assert (claims["sub"], claims["aud"], claims["iss"]) == (
        "6f1c2a90-abh-erika",
        CLIENT_ID,
        oidc_provider.issuer,
    )

    def refused_for(why: str) -> Any:  # ``why``: what the case is about, for the reader
        return pytest.raises(SsoRefused, match="keine gültige Bestätigung")

    with refused_for("nonce") as nonce_refusal:
        await ours.verify_id_token(raw, secrets.token_urlsafe(32))
    assert "nonce" in nonce_refusal.value.detail
    # Issued to our client: another application of the county's must not accept it.
    other_client = SingleSignOn(sso_settings(oidc_provider.issuer, oidc_client_id="andere"))
    with refused_for("aud") as audience:
        await other_client.verify_id_token(raw, nonce)
    assert audience.value.detail == "ID token: InvalidAudienceError"
    # One character of the payload changed: the signature no longer fits.
    head, payload, signature = raw.split(".")
    claims_changed = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims_changed["sub"] = "5c8b1d77-admin-ada"
    forged = base64.urlsafe_b64encode(json.dumps(claims_changed).encode()).rstrip(b"=")
    with refused_for("signature") as signature_refusal:
        await ours.verify_id_token(f"{head}.{forged.decode()}.{signature}", nonce)
    assert signature_refusal.value.detail == "ID token: InvalidSignatureError"
    # Right claims under a key of someone else's, with the provider's key id.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(
        claims, stranger, algorithm="RS256", headers={"kid": jwt.get_unverified_header(raw)["kid"]}
    )
    with refused_for("key"):
        await ours.verify_id_token(foreign, nonce)
    # Unsigned or signed with a shared secret: never accepted.
    for algorithm, key in (("HS256", CLIENT_SECRET), ("none", "")):
        token = jwt.encode(claims, key, algorithm=algorithm)
        with refused_for("algorithm") as algorithm_refusal:
            await ours.verify_id_token(token, nonce)
        assert "algorithm" in algorithm_refusal.value.detail
    # The provider at another name than the one configured: its discovery document says so.
    renamed = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(ServiceUnavailable, match="another issuer"):
        await SingleSignOn(sso_settings(renamed)).metadata()


async def test_an_unreachable_provider_is_a_german_503(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = sso_settings(f"http://127.0.0.1:{_free_port()}")
    async for app in _app(dev_env, pool, settings):
        async with browser(app) as http:
            response = await http.get(SSO_START)
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert "Der Anmeldedienst des Kreises ist gerade nicht erreichbar" in response.text


# --------------------------------------------------------- local accounts beside


async def test_local_logins_and_the_throttle_work_beside_single_sign_on(
    sso_app: FastAPI, pool: asyncpg.Pool
) -> None:
    accounts = accounts_of(sso_app)
    local = await accounts.create_account("l.lokal", "L. Lokal", Role.ABH, PASSWORD)
    async with browser(sso_app) as http:
        ok = await http.post(
            "/login",
            data={"username": "l.lokal", "password": PASSWORD, "next": "/"},
            headers={"origin": APP},
        )
        assert ok.status_code == 303 and "sitzung" in ok.cookies
        # An account of single sign-on has no password here: a login with its name fails
        # like a wrong password, and counts for the throttle like one.
        assert (await sso_log_in(http, "erika.abh")).status_code == 200
        for _ in range(5):
            wrong = await http.post(
                "/login",
                data={"username": "erika.abh", "password": PASSWORD, "next": "/"},
                headers={"origin": APP},
            )
            assert wrong.status_code == 401
            assert "Benutzername oder Passwort ist falsch" in wrong.text
        throttled = await http.post(
            "/login",
            data={"username": "l.lokal", "password": PASSWORD, "next": "/"},
            headers={"origin": APP},
        )
        assert throttled.status_code == 429  # the same client address: five failures
        # Its password page says there is none, and takes none.
        page = await http.get("/konto/passwort")
        assert page.status_code == 200
        assert "meldet sich mit dem Kreis-Konto an und hat hier kein Passwort" in page.text
        assert 'name="new_password"' not in page.text
        # ... and the navigation offers no password change to such an account.
        assert 'href="/konto/passwort"' not in (await http.get("/faelle")).text
        posted = await http.post(
            "/konto/passwort",
            data={
                "current_password": "x",
                "new_password": "ein ganz neues Passwort",
                "new_password_repeated": "ein ganz neues Passwort",
            },
            headers={"origin": APP},
        )
        assert posted.status_code == 422 and "kein Passwort" in posted.text
    sso = await sso_account(sso_app, "erika.abh")
    admin = await accounts.create_account("a.admin", "A. Admin", Role.ADMIN, PASSWORD)
    with pytest.raises(AccountError, match="kein Passwort"):
        await accounts.reset_password(sso.account_id, by=admin)
    with pytest.raises(AccountError, match="kein Passwort"):
        await accounts.set_password(sso.account_id, "ein ganz neues Passwort", by=admin)
    with pytest.raises(AccountError, match="Unbekanntes Konto"):
        await accounts.set_password(999_999, "ein ganz neues Passwort", by=admin)
    assert (
        await pool.fetchval(
            "SELECT password_hash FROM accounts WHERE account_id = $1", sso.account_id
        )
        is None
    )
    logins = [(actor, d) for a, actor, _, d in await audit_entries(pool) if a == "login"]
    assert logins == [
        ("l.lokal", {"account_id": local.account_id, "method": "password"}),
        ("erika.abh", {"account_id": sso.account_id, "method": "sso"}),
    ]


async def test_without_an_issuer_there_is_no_single_sign_on(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = Settings().model_copy(update={"cookie_secure": False})
    async for app in _app(dev_env, pool, settings):
        assert accounts_of(app).sso is None
        async with browser(app) as http:
            page = await http.get("/login")
            assert page.status_code == 200 and "Kreis-Konto" not in page.text
            off = await http.get(SSO_START)
            assert off.status_code == 404 and "nicht eingerichtet" in off.text


def test_the_settings_refuse_a_half_or_unsafe_configuration(
    secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def settings(**env: str) -> Settings:
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            return Settings()

    assert settings().oidc_issuer is None
    issuer = "https://login.kreis-unna.de/realms/kreis"
    with pytest.raises(ValidationError, match="https"):
        settings(CASE_OIDC_ISSUER="http://login.kreis-unna.de", CASE_OIDC_CLIENT_ID="x")
    with pytest.raises(ValidationError, match="CASE_OIDC_CLIENT_ID"):
        settings(CASE_OIDC_ISSUER=issuer)
    with pytest.raises(ValidationError, match="not both"):
        settings(
            CASE_OIDC_ISSUER=issuer,
            CASE_OIDC_CLIENT_ID="x",
            CASE_OIDC_CLIENT_SECRET="y",
            CASE_OIDC_CLIENT_SECRET_FILE=str(secret_file),
        )
    with pytest.raises(ValidationError, match="CASE_OIDC_ROLE_GROUPS"):
        settings(CASE_OIDC_ROLE_GROUPS='{"GG-Chef": "chef"}')
    good = settings(
        CASE_OIDC_ISSUER=issuer,
        CASE_OIDC_CLIENT_ID="fallsteuerung",
        CASE_OIDC_CLIENT_SECRET_FILE=str(secret_file),
        CASE_OIDC_ROLE_GROUPS='{"GG-Fallsteuerung-ABH": "abh"}',
    )
    assert good.oidc_secret() == CLIENT_SECRET
    assert good.oidc_role_groups == {"GG-Fallsteuerung-ABH": Role.ABH}
    assert good.oidc_groups_claim == "groups"


# ------------------------------------------------------------------ in a browser


@pytest.fixture
async def sso_page(
    browser: Browser, dev_env: WorkflowEnvironment, pool: asyncpg.Pool, oidc_provider: Provider
) -> AsyncIterator[Page]:
    settings = sso_settings(oidc_provider.issuer, oidc_client_secret=SecretStr(CLIENT_SECRET))
    async for app in _app(dev_env, pool, settings):
        async with serving_on_loopback(app, oidc_provider.browser_port) as url:
            context = await browser.new_context(base_url=url, locale="de-DE")
            context.set_default_timeout(20_000)
            violations = await watch_csp(context)
            page = await context.new_page()
            yield page
            await context.close()
            assert not violations, "CSP violations: " + "; ".join(violations)


async def test_a_county_account_logs_in_with_the_keyboard(sso_page: Page) -> None:
    page = sso_page
    await page.goto("/faelle")  # not logged in: the login page, going on to /faelle after
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await assert_accessible(page, "the login page with single sign-on")
    await tab_to(page, "#kreis-konto")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Anmelden beim Kreis Unna")).to_be_visible()
    await type_into(page, "#login", "erika.abh")
    await type_into(page, "#password", KREIS_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/faelle$"))
    await expect(page.locator("header")).to_contain_text(
        "Erika Mustermann (Ausländerbehörde (ABH))"
    )
    # A second person on the same machine uses the local login: still there, still keyboard.
    await tab_to(page, "button:text('Abmelden')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await expect(page.get_by_role("link", name="Mit dem Kreis-Konto anmelden")).to_be_visible()


def test_pkce_challenge_is_rfc_7636s_example() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
