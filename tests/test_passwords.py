"""Accounts (issue 14, point 7): one's own password, an admin's reset, the account CLI without
a terminal, token names used once.

The service on real PostgreSQL; the pages through the app (:mod:`tests.sitekit`), as a person
sees them; the CLIs as processes without a terminal, the way cron or CI runs them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from commands import accounts as accounts_cli
from config.settings import Settings
from schemas.accounts import Account, Role
from service.accounts import AccountService, one_time_password
from service.errors import AccountError, LoginRefused
from starter import cli
from store.audit import entries
from tests.sitekit import PASSWORD, Site
from tests.test_web import field_block

ROOT = Path(__file__).resolve().parents[1]
NEW = "ein ganz neues Passwort"
LIMIT = Settings().login_max_failures


@pytest.fixture
async def service(pool: asyncpg.Pool) -> AccountService:
    return AccountService(pool)


async def _failures(pool: asyncpg.Pool, username: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM login_failures WHERE username = $1", username
    )
    return count


async def _change(
    service: AccountService,
    account: Account,
    current: str,
    new: str = NEW,
    repeated: str | None = None,
    *,
    keep: str = "",
) -> int:
    return await service.change_own_password(
        account,
        current,
        new,
        new if repeated is None else repeated,
        client="10.7.0.1",
        keep_session=keep,
    )


# ----------------------------------------------------------------- the service


async def test_a_change_is_refused_naming_the_field_and_only_a_wrong_password_counts(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    account = await service.create_account("p.ruef", "P. Ruef", Role.ABH, PASSWORD)
    cases = [
        (PASSWORD, "zu kurz", None, {"new_password": "mindestens 12 Zeichen"}),
        (PASSWORD, NEW, NEW + "!", {"new_password_repeated": "Wiederholung stimmt nicht"}),
        (PASSWORD, PASSWORD, None, {"new_password": "vom bisherigen unterscheiden"}),
        ("", NEW, None, {"current_password": "bisheriges Passwort eingeben"}),
    ]
    for current, new, repeated, expected in cases:
        with pytest.raises(AccountError) as refused:
            await _change(service, account, current, new, repeated)
        fields = {problem.field: problem.reason for problem in refused.value.fields}
        assert fields.keys() == expected.keys(), fields
        for field, words in expected.items():
            assert words in fields[field]
    # None of these looked at the current password: nothing counted against the login.
    assert await _failures(pool, "p.ruef") == 0

    with pytest.raises(AccountError) as wrong:
        await _change(service, account, "nicht mein Passwort")
    assert [(p.field, p.reason) for p in wrong.value.fields] == [
        ("current_password", "Das bisherige Passwort ist falsch.")
    ]
    assert await _failures(pool, "p.ruef") == 1
    assert (await service.authenticate("p.ruef", PASSWORD, client="10.7.0.1")).username


async def test_wrong_current_passwords_throttle_the_change_and_the_login_alike(
    service: AccountService,
) -> None:
    account = await service.create_account("d.rossel", "D. Rossel", Role.KI, PASSWORD)
    for n in range(LIMIT):
        with pytest.raises(AccountError):
            await _change(service, account, f"geraten {n}")
    with pytest.raises(LoginRefused) as throttled:
        await _change(service, account, PASSWORD)  # the right one, too late
    assert throttled.value.reason == "throttled"
    with pytest.raises(LoginRefused) as at_login:
        await service.authenticate("d.rossel", PASSWORD, client="10.8.0.1")
    assert at_login.value.reason == "throttled"


async def test_a_change_ends_the_other_sessions_and_keeps_this_one(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    account = await service.create_account("s.elbst", "S. Elbst", Role.ABH, PASSWORD)
    other = await service.create_account("a.nders", "A. Nders", Role.ABH, PASSWORD)
    here = await service.open_session(account)
    elsewhere = [await service.open_session(account) for _ in range(2)]
    colleague = await service.open_session(other)

    assert await _change(service, account, PASSWORD, keep=here) == 2
    assert await service.session_account(here) == account
    assert [await service.session_account(token) for token in elsewhere] == [None, None]
    assert await service.session_account(colleague) == other
    with pytest.raises(LoginRefused):
        await service.authenticate("s.elbst", PASSWORD, client="10.7.0.2")
    assert (await service.authenticate("s.elbst", NEW, client="10.7.0.2")).username == "s.elbst"
    async with pool.acquire() as con:
        last = (await entries(con))[-1]
    assert (last.action, last.actor, last.detail) == (
        "password_changed",
        "s.elbst",
        {"account_id": account.account_id, "sessions_ended": 2},
    )


async def test_a_reset_ends_every_session_and_marks_the_account(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    admin = await service.create_account("ad.min", "Ad Min", Role.ADMIN, PASSWORD)
    person = await service.create_account("v.ergessen", "V. Ergessen", Role.ABH, PASSWORD)
    sessions = [await service.open_session(person) for _ in range(2)]
    token = await service.create_api_token("backoffice", by=admin)

    reset, one_time = await service.reset_password(person.account_id, by=admin)
    assert reset.must_change_password and len(one_time) == 19
    assert [await service.session_account(session) for session in sessions] == [None, None]
    assert await service.token_is_valid(token)  # tokens belong to systems, not to the person
    with pytest.raises(LoginRefused):
        await service.authenticate("v.ergessen", PASSWORD, client="10.7.0.3")
    marked = await service.authenticate("v.ergessen", one_time, client="10.7.0.3")
    assert marked.must_change_password
    session = await service.open_session(marked)
    assert (await service.session_account(session)) == marked

    with pytest.raises(AccountError, match="vom bisherigen"):  # not the one-time one again
        await _change(service, marked, one_time, one_time, keep=session)
    await _change(service, marked, one_time, keep=session)
    mine = await service.session_account(session)
    assert mine is not None and not mine.must_change_password

    with pytest.raises(AccountError, match="eigenes Passwort"):
        await service.reset_password(admin.account_id, by=admin)
    with pytest.raises(AccountError, match="Unbekanntes Konto"):
        await service.reset_password(999_999, by=admin)
    async with pool.acquire() as con:
        resets = [e for e in await entries(con) if e.action == "password_reset"]
    assert [(e.actor, e.detail) for e in resets] == [
        ("ad.min", {"account_id": person.account_id, "sessions_ended": 2})
    ]
    stored = await pool.fetchval("SELECT string_agg(detail::text, ' ') FROM audit_log")
    assert one_time not in stored and NEW not in stored


def test_one_time_passwords_are_long_and_readable() -> None:
    made = {one_time_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        groups = password.split("-")
        assert [len(group) for group in groups] == [4, 4, 4, 4]
        assert not set(password) & set("0o1li")


async def test_a_token_name_is_used_once_even_after_revoking(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    await service.create_api_token("backoffice")
    with pytest.raises(AccountError, match="backoffice-2"):
        await service.create_api_token("backoffice")
    assert await service.revoke_api_tokens("backoffice") == 1
    with pytest.raises(AccountError, match="auch ein widerrufenes"):
        await service.create_api_token(" backoffice ")
    with pytest.raises(AccountError, match="Bitte einen Namen"):
        await service.create_api_token("  ")
    assert await service.create_api_token("backoffice-2")
    assert [t.name for t in await service.list_api_tokens()] == ["backoffice", "backoffice-2"]
    created = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'token_created'")
    assert created == 2  # a refused token writes nothing


async def test_the_migration_renames_duplicate_token_names_keeping_the_active_one(
    pool: asyncpg.Pool,
) -> None:
    """A database from before 024: the constraint and the column are not there yet, names
    repeat. The migration's own SQL is run on it."""
    await pool.execute(
        "ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_name_key;"
        "ALTER TABLE accounts DROP COLUMN must_change_password"
    )

    async def token(name: str, *, revoked: bool = False) -> int:
        token_id: int = await pool.fetchval(
            "INSERT INTO api_tokens (name, token_hash, revoked_at)"
            " VALUES ($1, gen_random_uuid()::text::bytea, CASE WHEN $2 THEN now() END)"
            " RETURNING token_id",
            name,
            revoked,
        )
        return token_id

    a1 = await token("a", revoked=True)
    a2 = await token("a")
    a3 = await token("a", revoked=True)
    b1 = await token("b")
    b2 = await token("b")
    taken = await token(f"a-{a3}", revoked=True)  # the name a3 would get
    sql = (ROOT / "store" / "migrations" / "024_password_change.sql").read_text("utf-8")
    await pool.execute(sql)
    rows = await pool.fetch("SELECT token_id, name FROM api_tokens")
    names = {row["token_id"]: row["name"] for row in rows}
    assert names == {
        a1: f"a-{a1}",
        a2: "a",  # the active one keeps the name
        a3: f"a-{a3}-{a3}",
        b1: f"b-{b1}",
        b2: "b",  # none revoked: the one made last keeps it
        taken: f"a-{a3}",
    }
    account = await pool.fetchrow("SELECT must_change_password FROM accounts LIMIT 0")
    assert account is None  # the column is back (the query would fail without it)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute("INSERT INTO api_tokens (name, token_hash) VALUES ('a', '\\x00')")


# ------------------------------------------------------------------- the pages


async def _log_in(
    site: Site, username: str, password: str = PASSWORD
) -> tuple[httpx.AsyncClient, str]:
    """A client logged in through the form (wanting the inbox), and where the login sent it."""
    async with site.client() as login:
        response = await login.post(
            "/login", data={"username": username, "password": password, "next": "/posteingang"}
        )
    assert response.status_code == 303, response.text
    client = site.client()  # not yet opened: the tests use it with ``async with``
    client.cookies = response.cookies
    return client, response.headers["location"]


async def test_the_password_page_refuses_in_german_next_to_the_field(site: Site) -> None:
    abh = await site.person(Role.ABH)
    async with abh:
        page = await abh.get("/posteingang")
        assert '<a href="/konto/passwort">Passwort ändern</a>' in page.text  # in the nav
        form = await abh.get("/konto/passwort")
        assert form.status_code == 200 and "<h1>Passwort ändern</h1>" in form.text
        assert 'autocomplete="current-password"' in form.text

        async def post(current: str, new: str, repeated: str) -> httpx.Response:
            return await abh.post(
                "/konto/passwort",
                data={
                    "current_password": current,
                    "new_password": new,
                    "new_password_repeated": repeated,
                    "next": "",
                },
            )

        wrong = await post("falsch geraten", NEW, NEW)
        assert wrong.status_code == 422
        block = field_block(wrong.text, "current_password")
        assert "Das bisherige Passwort ist falsch." in block and 'aria-invalid="true"' in block
        assert "Bitte prüfen Sie Ihre Angaben" in wrong.text
        mismatch = await post(PASSWORD, NEW, NEW.upper())
        assert mismatch.status_code == 422
        assert "Wiederholung stimmt nicht" in field_block(mismatch.text, "new_password_repeated")
        weak = await post(PASSWORD, "kurz", "kurz")
        assert weak.status_code == 422
        assert "mindestens 12 Zeichen" in field_block(weak.text, "new_password")
        for refused in (wrong, mismatch, weak):  # what was typed is not sent back
            assert PASSWORD not in refused.text and NEW not in refused.text
        empty = await abh.post("/konto/passwort")
        assert empty.status_code == 422 and "bisheriges Passwort eingeben" in empty.text


async def test_a_change_ends_the_other_sessions_and_keeps_the_person_here(site: Site) -> None:
    account = await site.accounts.create_account("z.wei", "Z. Wei", Role.ABH, PASSWORD)
    here, _ = await _log_in(site, "z.wei")
    there, _ = await _log_in(site, "z.wei")
    async with here, there:
        done = await here.post(
            "/konto/passwort",
            data={"current_password": PASSWORD, "new_password": NEW,
                  "new_password_repeated": NEW},
        )  # fmt: skip
        assert done.status_code == 303
        assert done.headers["location"] == "/konto/passwort?meldung=passwort"
        shown = await here.get(done.headers["location"])
        assert "Ihr neues Passwort gilt ab sofort." in shown.text
        assert (await here.get("/posteingang")).status_code == 200
        gone = await there.get("/posteingang")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/login?next=/posteingang&grund=abgelaufen"
    assert (await site.accounts.authenticate("z.wei", NEW, client="t")) == account


async def test_a_change_from_another_site_is_refused(site: Site) -> None:
    abh = await site.person(Role.ABH, "f.remd")
    async with abh:
        response = await abh.post(
            "/konto/passwort",
            data={"current_password": PASSWORD, "new_password": NEW,
                  "new_password_repeated": NEW},
            headers={"Origin": "http://evil.example"},
        )  # fmt: skip
        assert response.status_code == 403
    assert await site.accounts.authenticate("f.remd", PASSWORD, client="t")


async def test_after_a_reset_the_person_reaches_only_the_password_page(site: Site) -> None:
    admin = await site.person(Role.ADMIN)
    person = await site.accounts.create_account("r.eset", "R. Eset", Role.ABH, PASSWORD)
    before, _ = await _log_in(site, "r.eset")
    async with admin, before:
        listing = await admin.get("/admin/konten")
        assert f'action="/admin/konten/{person.account_id}/passwort"' in listing.text
        page = await admin.post(f"/admin/konten/{person.account_id}/passwort")
        assert page.status_code == 200
        one_time = page.text.split('<code class="secret">')[1].split("</code>")[0]
        assert len(one_time) == 19 and "nur jetzt zu sehen" in page.text
        assert one_time not in (await admin.get("/admin/konten")).text  # shown once
        assert (
            "muss bei der nächsten Anmeldung geändert werden"
            in (await admin.get("/admin/konten")).text
        )
        # The session from before the reset has ended.
        assert (await before.get("/posteingang")).status_code == 303

    marked, went_to = await _log_in(site, "r.eset", one_time)
    async with marked:
        assert went_to == "/konto/passwort?next=/posteingang"
        for path in ("/posteingang", "/faelle", "/", "/admin/konten"):
            away = await marked.get(path)
            assert away.status_code == 303, path
            assert away.headers["location"].startswith("/konto/passwort"), path
        api = await marked.get("/api/v1/tasks")
        assert api.status_code == 403 and "password change required" in api.json()["detail"]
        form = await marked.get("/konto/passwort?next=/posteingang")
        assert "von der Administration zurückgesetzt" in form.text
        assert "Einmalpasswort" in form.text
        nav = form.text.split('aria-label="Hauptnavigation"')[1].split("</nav>")[0]
        assert nav.count("<a ") == 1 and "Passwort ändern" in nav
        done = await marked.post(
            "/konto/passwort",
            data={"current_password": one_time, "new_password": NEW,
                  "new_password_repeated": NEW, "next": "/posteingang"},
        )  # fmt: skip
        assert done.headers["location"] == "/posteingang?meldung=passwort"
        inbox = await marked.get(done.headers["location"])
        assert inbox.status_code == 200 and "Ihr neues Passwort gilt" in inbox.text
        assert (await marked.get("/api/v1/tasks")).status_code == 200


async def test_an_admin_changes_rather_than_resets_their_own_password(site: Site) -> None:
    admin = await site.person(Role.ADMIN, "s.elbst")
    me = next(a for a in await site.accounts.list_accounts() if a.username == "s.elbst")
    async with admin:
        listing = await admin.get("/admin/konten")
        assert f'action="/admin/konten/{me.account_id}/passwort"' not in listing.text
        assert "Eigenes Passwort ändern" in listing.text
        own = await admin.post(f"/admin/konten/{me.account_id}/passwort")
        assert own.status_code == 409 and "Passwort ändern" in own.text
        unknown = await admin.post("/admin/konten/999999/passwort")
        assert unknown.status_code == 404
        abh = await site.person(Role.ABH)
        async with abh:
            assert (await abh.post(f"/admin/konten/{me.account_id}/passwort")).status_code == 403
    assert (await site.accounts.authenticate("s.elbst", PASSWORD, client="t")).username


# -------------------------------------------------------------------- the CLIs


def _without_a_terminal(
    *argv: str, dsn: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The command as cron or CI runs it: stdin a pipe, no controlling terminal."""
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass cannot open /dev/tty
    )


async def test_the_account_cli_without_a_terminal_asks_for_password_stdin(
    dsn: str, pool: asyncpg.Pool
) -> None:
    create = ["-m", "commands.accounts", "create", "--username", "o.hne", "--display-name",
              "O. Hne", "--role", "abh"]  # fmt: skip
    done = _without_a_terminal(*create, dsn=dsn)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "no terminal to ask for the password on" in done.stderr
    assert "--password-stdin" in done.stderr
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0

    piped = _without_a_terminal(*create, "--password-stdin", dsn=dsn, stdin=PASSWORD + "\n")
    assert piped.returncode == 0, piped.stderr
    assert "account" in piped.stdout and "o.hne (abh)" in piped.stdout

    login = _without_a_terminal(
        "-m", "starter", "--api", "http://127.0.0.1:9", "login", "--username", "o.hne", dsn=dsn
    )
    assert login.returncode == 1, login.stderr
    assert "Traceback" not in login.stderr + login.stdout
    assert "--password-stdin" in login.stdout


async def test_the_account_cli_resets_a_password_and_refuses_a_used_token_name(
    dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings().model_copy(update={"database_url": dsn})
    service = AccountService(pool)
    await service.create_account("a.dmin", "A. Dmin", Role.ADMIN, PASSWORD)
    out = io.StringIO()
    assert await accounts_cli.run(["reset-password", "--username", "a.dmin"],
                                  settings=settings, out=out) == 0  # fmt: skip
    one_time = out.getvalue().strip()
    assert "shown only now" in capsys.readouterr().err
    account = await service.authenticate("a.dmin", one_time, client="cli")
    assert account.must_change_password
    assert await accounts_cli.run(["reset-password", "--username", "niemand"],
                                  settings=settings) == 1  # fmt: skip
    assert "Ein Konto 'niemand' gibt es nicht." in capsys.readouterr().err

    assert await accounts_cli.run(["token", "--name", "backoffice"], settings=settings,
                                  out=io.StringIO()) == 0  # fmt: skip
    capsys.readouterr()
    again = io.StringIO()
    assert await accounts_cli.run(["token", "--name", "backoffice"], settings=settings,
                                  out=again) == 1  # fmt: skip
    error = capsys.readouterr().err
    assert "refused: Name: Ein API-Token namens 'backoffice' gab es schon" in error
    assert again.getvalue() == ""  # no token printed
    assert await pool.fetchval("SELECT count(*) FROM api_tokens") == 1


async def test_odd_bytes_in_the_password_form_are_an_answer_not_a_500(site: Site) -> None:
    abh = await site.person(Role.ABH, "o.dd")
    async with abh:
        for new in ("%00" * 12, "%1B" * 12, "%ED%B3%BF" * 12, "%FF" * 12):
            body = f"current_password={PASSWORD}&new_password={new}&new_password_repeated={new}"
            response = await abh.post(
                "/konto/passwort",
                content=body.encode("ascii"),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code < 500, (new, response.text)
            if new in ("%00" * 12, "%1B" * 12):
                assert response.status_code == 422
                assert "Steuerzeichen" in field_block(response.text, "new_password")


async def test_the_starter_login_after_a_reset_says_to_change_it_in_the_browser(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_file = tmp_path / "sitzung.json"
    monkeypatch.setenv("CASE_CLI_SESSION_FILE", str(session_file))
    person = await site.accounts.create_account("c.li", "C. Li", Role.ADMIN, PASSWORD)
    _, one_time = await site.accounts.reset_password(person.account_id)
    out = io.StringIO()
    code = await cli.run(
        ["--api", "http://test", "login", "--username", "c.li", "--password-stdin"],
        transport=httpx.ASGITransport(app=site.app),
        out=out,
        stdin=io.StringIO(one_time + "\n"),
    )
    assert code == 1
    assert "the password was reset and must be changed first" in out.getvalue()
    assert "http://test/login" in out.getvalue()
    assert not session_file.exists()
    assert await site.pool.fetchval("SELECT count(*) FROM sessions") == 0  # closed again


async def test_a_reset_admin_session_opens_not_even_the_status_intake(site: Site) -> None:
    admin = await site.accounts.create_account("i.ntake", "I. Ntake", Role.ADMIN, PASSWORD)
    marked, _ = await site.accounts.reset_password(admin.account_id)
    session = await site.accounts.open_session(marked)
    async with site.client() as http:
        response = await http.post(
            "/api/v1/status-events",
            json={"event_id": "x-1", "case_id": "X-1", "status": "ausgereist",
                  "effective_date": "2026-01-05"},
            headers={"cookie": f"sitzung={session}"},
        )  # fmt: skip
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/password-change-required"
    assert response.json()["detail"] == (
        "password change required: the password was reset; set a new one at /konto/passwort"
    )
