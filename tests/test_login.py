"""The login under attack: a burst of parallel attempts, the event loop, a foreign origin.

The passwords checked are counted by the hasher the service is given (it counts every
argon2 verification and the thread it ran on), never by the clock; PostgreSQL is real, so the
advisory locks that serialise the attempts are the service's own.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Literal

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from config.settings import Settings
from schemas.accounts import Role
from service.accounts import AccountService
from service.errors import LoginRefused
from tests.sitekit import PASSWORD, Site

BURST = 40
LIMIT = Settings().login_max_failures


class CountingHasher(PasswordHasher):
    """argon2id as the service uses it, counting what it does and noting on which thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.verified = 0
        self.threads: set[int] = set()

    def _note(self) -> None:
        with self._lock:
            self.threads.add(threading.get_ident())

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._note()
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._note()
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
async def service(pool: asyncpg.Pool, hasher: CountingHasher) -> AccountService:
    return AccountService(pool, hasher=hasher)


async def _attempts(service: AccountService, usernames: list[str], clients: list[str]) -> list[str]:
    async def attempt(username: str, client: str) -> str:
        try:
            await service.authenticate(username, "ein falsches Passwort", client=client)
        except LoginRefused as refused:
            return refused.reason
        return "accepted"

    return list(await asyncio.gather(*map(attempt, usernames, clients)))


async def test_a_burst_for_one_username_checks_at_most_the_limit(
    service: AccountService, hasher: CountingHasher, pool: asyncpg.Pool
) -> None:
    await service.create_account("b.urst", "B. Urst", Role.ABH, PASSWORD)
    hasher.verified = 0
    clients = [f"10.1.0.{n}" for n in range(BURST)]  # from everywhere: the username counts
    reasons = await _attempts(service, ["b.urst"] * BURST, clients)
    assert hasher.verified <= LIMIT
    assert reasons.count("invalid") == hasher.verified
    assert reasons.count("throttled") == BURST - hasher.verified
    assert await pool.fetchval("SELECT count(*) FROM login_failures") == hasher.verified
    # The right password is refused too now, and not even checked.
    with pytest.raises(LoginRefused) as throttled:
        await service.authenticate("b.urst", PASSWORD, client="10.2.0.1")
    assert throttled.value.reason == "throttled"
    assert hasher.verified <= LIMIT


async def test_a_burst_from_one_address_checks_at_most_the_limit(
    service: AccountService, hasher: CountingHasher
) -> None:
    await service.create_account("a.ddress", "A. Ddress", Role.ABH, PASSWORD)
    hasher.verified = 0
    usernames = [f"guess-{n}" for n in range(BURST - 1)] + ["a.ddress"]
    reasons = await _attempts(service, usernames, ["192.0.2.9"] * BURST)
    assert hasher.verified <= LIMIT
    assert reasons.count("throttled") >= BURST - LIMIT
    # Another address is not affected, and the right password works from there.
    assert (await service.authenticate("a.ddress", PASSWORD, client="192.0.2.10")).active


async def test_parallel_logins_of_different_people_do_not_wait_for_ever(
    service: AccountService, hasher: CountingHasher
) -> None:
    """Username and address locks taken by many logins at once, crossing each other: every
    login ends (a lock cycle would be a deadlock error or a hang, bounded here)."""
    names = [f"p.{n}" for n in range(6)]
    for name in names:
        await service.create_account(name, name, Role.KI, PASSWORD)

    async def login(name: str, client: str) -> str:
        return (await service.authenticate(name, PASSWORD, client=client)).username

    pairs = [(name, f"198.51.100.{m}") for name in names for m in range(3)]
    done = await asyncio.wait_for(
        asyncio.gather(*(login(name, client) for name, client in pairs)), timeout=120
    )
    assert sorted(done) == sorted(name for name, _ in pairs)


async def _pending(
    pool: asyncpg.Pool, username: str, n: int, age: timedelta = timedelta(0)
) -> None:
    """``n`` checks of ``username`` in progress (begun ``age`` ago), as other logins leave them."""
    await pool.execute(
        "INSERT INTO login_failures (username, client, at, pending) "
        "SELECT $1, '10.4.0.1', now() - $3::interval, true FROM generate_series(1, $2)",
        username,
        n,
        age,
    )


async def test_a_right_password_waits_for_checks_in_progress_and_is_not_refused(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    await service.create_account("w.arten", "W. Arten", Role.ABH, PASSWORD)
    await _pending(pool, "w.arten", LIMIT)
    login = asyncio.create_task(service.authenticate("w.arten", PASSWORD, client="10.4.0.2"))
    await asyncio.sleep(0.5)
    assert not login.done()  # neither refused nor checked while the others may still fail
    await pool.execute("DELETE FROM login_failures")  # those checks found right passwords
    assert (await asyncio.wait_for(login, timeout=30)).username == "w.arten"


async def test_checks_in_progress_that_fail_throttle_the_waiting_attempt(
    service: AccountService, hasher: CountingHasher, pool: asyncpg.Pool
) -> None:
    await service.create_account("w.eiter", "W. Eiter", Role.ABH, PASSWORD)
    hasher.verified = 0
    await _pending(pool, "w.eiter", LIMIT)
    login = asyncio.create_task(service.authenticate("w.eiter", PASSWORD, client="10.4.0.2"))
    await asyncio.sleep(0.5)
    await pool.execute("UPDATE login_failures SET pending = false")  # they were wrong
    with pytest.raises(LoginRefused) as throttled:
        await asyncio.wait_for(login, timeout=30)
    assert throttled.value.reason == "throttled" and hasher.verified == 0


async def test_a_check_left_pending_by_a_dead_process_counts_as_a_failure(
    service: AccountService, pool: asyncpg.Pool
) -> None:
    await service.create_account("t.ot", "T. Ot", Role.ABH, PASSWORD)
    await _pending(pool, "t.ot", LIMIT, age=timedelta(minutes=2))
    with pytest.raises(LoginRefused) as throttled:
        await service.authenticate("t.ot", PASSWORD, client="10.4.0.2")
    assert throttled.value.reason == "throttled"


async def test_hashing_and_verifying_never_run_on_the_event_loop(
    service: AccountService, hasher: CountingHasher
) -> None:
    loop_thread = threading.get_ident()
    account = await service.create_account("o.ff", "O. Ff", Role.ABH, PASSWORD)
    await service.authenticate("o.ff", PASSWORD, client="10.3.0.1")
    with pytest.raises(LoginRefused):
        await service.authenticate("niemand", PASSWORD, client="10.3.0.1")  # the dummy hash
    await service.set_password(account.account_id, "ein ganz neues Passwort")
    assert hasher.verified == 2
    assert hasher.threads and loop_thread not in hasher.threads


# ------------------------------------------------------------------ over HTTP


@pytest.fixture
async def counted(app: FastAPI, pool: asyncpg.Pool) -> AsyncIterator[CountingHasher]:
    """The app's account service, with a counting hasher."""
    hasher = CountingHasher()
    app.state.accounts = AccountService(pool, app.state.settings, hasher=hasher)
    yield hasher


def _client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    )


async def test_forty_parallel_posts_to_the_login_page_check_at_most_five_passwords(
    app: FastAPI, counted: CountingHasher
) -> None:
    username = f"burst-{uuid.uuid4().hex[:6]}"
    await app.state.accounts.create_account(username, "Burst", Role.ABH, PASSWORD)

    async def attempt(n: int) -> int:
        async with _client(app, origin="http://test") as browser:
            response = await browser.post(
                "/login", data={"username": username, "password": f"falsch-{n}"}
            )
            return response.status_code

    statuses = await asyncio.gather(*(attempt(n) for n in range(BURST)))
    assert counted.verified <= LIMIT
    assert statuses.count(401) == counted.verified
    assert statuses.count(429) == BURST - counted.verified


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://test:8080"},
        {"origin": "null"},
        {"referer": "https://evil.example/anmelden"},
        {},
    ],
    ids=["foreign-origin", "other-port", "null-origin", "foreign-referer", "neither"],
)
async def test_a_login_from_another_site_is_refused_in_german(
    app: FastAPI, counted: CountingHasher, headers: dict[str, str]
) -> None:
    username = f"csrf-{uuid.uuid4().hex[:6]}"
    await app.state.accounts.create_account(username, "CSRF", Role.ABH, PASSWORD)
    async with _client(app, **headers) as elsewhere:
        response = await elsewhere.post(
            "/login", data={"username": username, "password": PASSWORD, "next": "/"}
        )
    assert response.status_code == 403
    assert "Keine Berechtigung" in response.text
    assert "nur über das Anmeldeformular dieser Seite" in response.text
    assert "set-cookie" not in response.headers
    assert counted.verified == 0  # refused before any password was looked at


async def test_a_login_from_this_site_works_by_origin_or_referer(
    site: Site,
) -> None:
    username = f"same-{uuid.uuid4().hex[:6]}"
    await site.accounts.create_account(username, "Same", Role.ABH, PASSWORD)
    form = {"username": username, "password": PASSWORD, "next": "/posteingang"}
    async with site.client() as browser:  # names its origin, as browsers do on a POST
        by_origin = await browser.post("/login", data=form)
        del browser.headers["origin"]
        by_referer = await browser.post(
            "/login", data=form, headers={"referer": "http://test/login?next=/posteingang"}
        )
    for response in (by_origin, by_referer):
        assert response.status_code == 303
        assert response.headers["location"] == "/posteingang"
        assert "sitzung=" in response.headers["set-cookie"]
