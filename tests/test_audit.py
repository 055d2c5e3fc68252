"""The audit log: one hash chain, append-only in the database, checked by recomputing it.

Tampering is done the way an attacker with the table owner's or a superuser's rights would:
disable the append-only trigger, change or delete rows, enable it again. The chain must then
name exactly the first entry that no longer fits.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from commands import accounts as accounts_cli
from commands import audit as audit_cli
from config.settings import Settings
from schemas.accounts import Role
from schemas.audit import (
    GENESIS_HASH,
    SYSTEM_ROLE,
    AuditAction,
    AuditDraft,
    AuditEntry,
    VerifyResult,
    canonical_bytes,
    chain_hash,
)
from service.accounts import AccountService
from service.errors import AccountError
from store import audit
from store.audit import AuditOutsideTransaction
from tests.sitekit import Site
from tests.test_api import PASSWORD, V1, open_case

CASE = "AUD-2026-0001"


def draft(n: int, case_id: str | None = CASE) -> AuditDraft:
    return AuditDraft(
        actor="pruefer",
        role=SYSTEM_ROLE,
        action=AuditAction.CASE_OPENED,
        case_id=case_id,
        detail={"what": f"Prüfung {n}"},
    )


async def append(pool: asyncpg.Pool, entry: AuditDraft) -> int:
    async with pool.acquire() as con, con.transaction():
        return await audit.append(con, entry)


async def all_entries(pool: asyncpg.Pool, case_id: str | None = None) -> list[AuditEntry]:
    async with pool.acquire() as con:
        return await audit.entries(con, case_id)


async def verify(pool: asyncpg.Pool) -> VerifyResult:
    async with pool.acquire() as con:
        return await audit.verify(con)


async def cli(dsn: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    settings = Settings().model_copy(update={"database_url": dsn})
    code = await audit_cli.run(list(argv), settings=settings, out=out)
    return code, out.getvalue()


@asynccontextmanager
async def as_attacker(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    async with pool.acquire() as con:
        await con.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        try:
            yield con
        finally:
            await con.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


# ------------------------------------------------------------------ the chain


async def test_entries_chain_from_zero_bytes_by_the_documented_serialisation(
    pool: asyncpg.Pool,
) -> None:
    for n in range(3):
        assert await append(pool, draft(n)) == n + 1
    await append(pool, draft(3, case_id=None))
    entries = await all_entries(pool)
    assert [entry.seq for entry in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH == bytes(32)
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash
        assert entry.at >= previous.at

    # The serialisation spelled out, as a verifier elsewhere would write it.
    first = entries[0]
    at = first.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", at)
    document = (
        '{"action":"case_opened","actor":"pruefer","at":"' + at + '","case_id":"AUD-2026-0001",'
        '"detail":{"what":"Prüfung 0"},"role":"system","seq":1}'
    )
    assert first.entry_hash == hashlib.sha256(bytes(32) + document.encode("utf-8")).digest()
    last = entries[-1]
    assert last.case_id is None
    assert last.entry_hash == chain_hash(
        last.prev_hash,
        canonical_bytes(
            seq=4, at=last.at, actor="pruefer", role="system", action="case_opened",
            case_id=None, detail={"what": "Prüfung 3"},
        ),
    )  # fmt: skip

    assert [entry.seq for entry in await all_entries(pool, CASE)] == [1, 2, 3]
    result = await verify(pool)
    assert (result.ok, result.count, result.last_seq) == (True, 4, 4)
    assert result.last_hash == last.entry_hash
    # The hashes do not depend on the session's time zone.
    async with pool.acquire() as con, con.transaction():
        await con.execute("SET LOCAL TIME ZONE 'Pacific/Chatham'")
        assert (await audit.verify(con, batch=3)).ok


async def test_an_append_needs_the_callers_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as con:
        with pytest.raises(AuditOutsideTransaction):
            await audit.append(con, draft(0))
    assert await all_entries(pool) == []


async def test_a_rolled_back_change_leaves_no_entry_and_no_gap(pool: asyncpg.Pool) -> None:
    await append(pool, draft(0))

    class Refused(Exception):
        pass

    async with pool.acquire() as con:
        with pytest.raises(Refused):
            async with con.transaction():
                await audit.append(con, draft(1))
                raise Refused
    assert await append(pool, draft(2)) == 2
    assert [entry.detail["what"] for entry in await all_entries(pool)] == ["Prüfung 0", "Prüfung 2"]
    assert (await verify(pool)).ok


async def test_concurrent_appenders_make_one_gapless_chain(pool: asyncpg.Pool) -> None:
    async def one(n: int) -> int:
        async with pool.acquire() as con, con.transaction():
            await con.execute("SELECT pg_sleep(0.005)")  # the audited change
            seq = await audit.append(con, draft(n, case_id=f"AUD-{n % 7}"))
            await asyncio.sleep(0.002)  # the commit comes a little later
            return seq

    seqs = await asyncio.gather(*(one(n) for n in range(50)))
    assert sorted(seqs) == list(range(1, 51))
    entries = await all_entries(pool)
    assert len({entry.prev_hash for entry in entries}) == 50
    assert {entry.detail["what"] for entry in entries} == {f"Prüfung {n}" for n in range(50)}
    result = await verify(pool)
    assert (result.ok, result.count) == (True, 50)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'jemand' WHERE seq = 2",
        "UPDATE audit_log SET detail = '{}' WHERE false",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_the_database_refuses_changes_and_removals(
    pool: asyncpg.Pool, statement: str
) -> None:
    for n in range(3):
        await append(pool, draft(n))
    with pytest.raises(asyncpg.RaiseError, match="audit_log is append-only"):
        await pool.execute(statement)
    assert [entry.actor for entry in await all_entries(pool)] == ["pruefer"] * 3
    assert (await verify(pool)).ok


# ------------------------------------------------------------------ tampering


async def _rewrite_with_fresh_hash(con: asyncpg.pool.PoolConnectionProxy) -> None:
    """A careful attacker changes entry 3 and recomputes its hash: entry 4 no longer fits."""
    row = await con.fetchrow("SELECT * FROM audit_log WHERE seq = 3")
    assert row is not None
    detail = {"what": "nie geöffnet"}
    canonical = canonical_bytes(
        seq=3, at=row["at"], actor=row["actor"], role=row["role"], action=row["action"],
        case_id=row["case_id"], detail=detail,
    )  # fmt: skip
    await con.execute(
        "UPDATE audit_log SET detail = $1, entry_hash = $2 WHERE seq = 3",
        detail,
        chain_hash(bytes(row["prev_hash"]), canonical),
    )


TAMPERING = {
    "detail changed": ('UPDATE audit_log SET detail = \'{"what": "x"}\' WHERE seq = 3', 3),
    "time moved by 1µs": (
        "UPDATE audit_log SET at = at + interval '1 microsecond' WHERE seq = 3",
        3,
    ),
    "actor changed": ("UPDATE audit_log SET actor = 'niemand' WHERE seq = 5", 5),
    "case changed": ("UPDATE audit_log SET case_id = 'AUD-X' WHERE seq = 2", 2),
    "middle entry deleted": ("DELETE FROM audit_log WHERE seq = 3", 3),
    "first entry deleted": ("DELETE FROM audit_log WHERE seq = 1", 1),
    "two entries swapped": (
        "UPDATE audit_log SET seq = CASE seq WHEN 2 THEN 1003 ELSE 1002 END WHERE seq IN (2, 3);"
        "UPDATE audit_log SET seq = seq - 1000 WHERE seq > 1000",
        2,
    ),
    "rewritten with a fresh hash": (None, 4),
}


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
async def test_tampering_is_named_at_the_first_broken_entry(
    pool: asyncpg.Pool, dsn: str, case: str
) -> None:
    for n in range(5):
        await append(pool, draft(n))
    statement, broken = TAMPERING[case]
    async with as_attacker(pool) as con:
        if statement is None:
            await _rewrite_with_fresh_hash(con)
        else:
            await con.execute(statement)

    result = await verify(pool)
    assert not result.ok
    assert result.broken_seq == broken
    assert result.count == broken - 1
    async with pool.acquire() as con:
        assert (await audit.verify(con, batch=2)).broken_seq == broken  # across batches too

    code, output = await cli(dsn, "verify")
    assert code == 1
    assert output == f"audit log broken at entry {broken}: {result.reason}\n"


async def test_the_reasons_name_what_does_not_fit(pool: asyncpg.Pool) -> None:
    for n in range(4):
        await append(pool, draft(n))
    async with as_attacker(pool) as con:
        await con.execute("DELETE FROM audit_log WHERE seq = 2")
    assert (await verify(pool)).reason == "entry missing (the next entry is 3)"
    async with as_attacker(pool) as con:
        await con.execute("DELETE FROM audit_log WHERE seq = 3")
        await con.execute("UPDATE audit_log SET seq = seq - 2 WHERE seq = 4")
    assert (await verify(pool)).reason == "prev_hash does not match the hash of entry 1"
    async with as_attacker(pool) as con:
        await con.execute("UPDATE audit_log SET role = 'admin' WHERE seq = 1")
    result = await verify(pool)
    assert (result.broken_seq, result.reason) == (
        1,
        "hash mismatch: the entry was changed after it was written",
    )


# ------------------------------------------------------------------ the CLI


async def test_the_cli_verifies_an_intact_log_and_shows_a_case(
    pool: asyncpg.Pool, dsn: str
) -> None:
    assert await cli(dsn, "verify") == (0, "audit log intact: 0 entries\n")
    for n in range(3):
        await append(pool, draft(n))
    await append(pool, draft(3, case_id="AUD-ANDERS"))
    await append(pool, draft(4))
    last = (await all_entries(pool))[-1]

    code, output = await cli(dsn, "verify")
    assert code == 0
    assert output == f"audit log intact: 5 entries\nlast entry 5: sha256 {last.entry_hash.hex()}\n"

    code, output = await cli(dsn, "show", "--case-id", CASE)
    assert code == 0
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3", "5"]
    assert "case_opened" in lines[0] and "pruefer (system)" in lines[0]
    assert lines[-1].endswith('{"what": "Prüfung 4"}')
    assert await cli(dsn, "show", "--case-id", "AUD-NIEMALS") == (0, "")


# --------------------------------------------------- what is written to the chain


async def test_reading_a_case_in_the_api_is_a_chained_entry(
    app: FastAPI, http: httpx.AsyncClient, admin: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    assert (await http.get(f"{V1}/cases/{case_id}")).status_code == 200
    [entry] = await all_entries(pool, case_id)
    assert entry.action == AuditAction.CASE_OPENED
    assert (entry.role, entry.detail) == ("abh", {"what": "api: case view"})
    assert entry.actor.startswith("abh-")
    assert (await verify(pool)).ok
    # The admins' per-case access log reads as before.
    log = await admin.get(f"{V1}/admin/access-log", params={"case_id": case_id})
    [row] = log.json()
    assert (row["username"], row["what"]) == (entry.actor, "api: case view")


async def test_the_case_page_and_account_administration_in_the_web_are_chained(
    site: Site,
) -> None:
    case_id = await site.open_case()
    abh = await site.person(Role.ABH)
    admin = await site.person(Role.ADMIN, "w.admin")
    async with abh, admin:
        assert (await abh.get(f"/faelle/{case_id}")).status_code == 200
        created = await admin.post(
            "/admin/konten",
            data={
                "username": "w.neu",
                "display_name": "W. Neu",
                "role": "ki",
                "password": PASSWORD,
            },
        )
        assert created.status_code == 303
        new_id = next(
            a.account_id for a in await site.accounts.list_accounts() if a.username == "w.neu"
        )
        off = await admin.post(f"/admin/konten/{new_id}/aktiv", data={"aktiv": "nein"})
        assert off.status_code == 303

    [opened] = await all_entries(site.pool, case_id)
    assert (opened.action, opened.role, opened.detail) == (
        "case_opened",
        "abh",
        {"what": "Fallseite"},
    )
    by_admin = [
        (entry.action, entry.detail)
        for entry in await all_entries(site.pool)
        if entry.actor == "w.admin"
    ]
    admin_id = next(
        a.account_id for a in await site.accounts.list_accounts() if a.username == "w.admin"
    )
    assert by_admin == [
        ("login", {"account_id": admin_id, "method": "password"}),  # the form's login
        ("account_created", {"account_id": new_id, "username": "w.neu", "role": "ki"}),
        ("account_deactivated", {"account_id": new_id}),
    ]
    assert (await verify(site.pool)).ok


async def test_account_administration_is_chained_without_secrets(
    pool: asyncpg.Pool, dsn: str
) -> None:
    service = AccountService(pool)
    account = await service.create_account("a.udit", "Anna Udit", Role.ABH, PASSWORD)
    admin = await service.create_account("ad.min", "Adam Min", Role.ADMIN, PASSWORD)
    new_password = "ein ganz neues Passwort"
    await service.set_active(account.account_id, False, by=admin)
    await service.set_active(account.account_id, True, by=admin)
    await service.set_password(account.account_id, new_password, by=admin)
    token = await service.create_api_token("backoffice", by=admin)
    assert await service.revoke_api_tokens("backoffice", by=admin) == 1
    # What changes nothing writes nothing.
    assert await service.revoke_api_tokens("backoffice", by=admin) == 0
    with pytest.raises(AccountError):
        await service.set_active(999_999, False, by=admin)
    with pytest.raises(AccountError):
        await service.create_account("a.udit", "Anna Udit", Role.KI, PASSWORD, by=admin)
    settings = Settings().model_copy(update={"database_url": dsn})
    code = await accounts_cli.run(
        ["token", "--name", "fachverfahren"], settings=settings, out=io.StringIO()
    )
    assert code == 0

    entries = await all_entries(pool)
    token_id = await pool.fetchval("SELECT token_id FROM api_tokens WHERE name = 'backoffice'")
    assert [(e.action, e.actor, e.role, e.detail) for e in entries] == [
        ("account_created", "service", "system",
         {"account_id": account.account_id, "username": "a.udit", "role": "abh"}),
        ("account_created", "service", "system",
         {"account_id": admin.account_id, "username": "ad.min", "role": "admin"}),
        ("account_deactivated", "ad.min", "admin", {"account_id": account.account_id}),
        ("account_activated", "ad.min", "admin", {"account_id": account.account_id}),
        ("password_changed", "ad.min", "admin", {"account_id": account.account_id}),
        ("token_created", "ad.min", "admin", {"token_id": token_id, "name": "backoffice"}),
        ("token_revoked", "ad.min", "admin", {"token_ids": [token_id], "name": "backoffice"}),
        ("token_created", "accounts_cli", "system", {"token_id": token_id + 1,
                                                      "name": "fachverfahren"}),
    ]  # fmt: skip
    assert all(entry.case_id is None for entry in entries)
    stored = json.dumps(
        [dict(row) for row in await pool.fetch("SELECT * FROM audit_log")], default=str
    )
    for secret in (PASSWORD, new_password, token, hashlib.sha256(token.encode()).hexdigest(),
                   "Anna Udit", "Adam Min"):  # fmt: skip
        assert secret not in stored
    assert (await verify(pool)).ok
