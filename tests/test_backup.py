"""Backup and restore (issue 16, point 8): ``python -m commands.backup`` against real servers.

Servers of their own per test (an embedded PostgreSQL and a Temporal dev server on SQLite,
each in a data folder under ``tmp_path``), never the session's shared ones: the restore goes
into fresh servers in a second folder, as it would on a new machine. The commands run as the
operator runs them, as processes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus

from config.settings import Settings
from protection import shredlog
from protection.codec import ENCODING, CaseCodec, erased_payload
from protection.erasure import erase_case, reapply_shredding
from protection.keyring import KeyRing, arrival_scope
from protection.master import KeyRingData, MasterKeys
from runtime.app import create_app
from runtime.embedded import data_folder_lock, embedded_postgres, temporal_dev_server
from runtime.worker import build_worker
from schemas.accounts import Role
from scripts.service_process import free_port
from service.temporal import connect
from store.db import open_pool
from store.migrate import apply_migrations
from tests.test_api import (
    V1,
    complete,
    conversation,
    event,
    http_client,
    login_session,
    new_case_id,
    opening,
)
from tests.test_canary import payloads_in, task_of
from workflows.case import workflow_id

ROOT = Path(__file__).resolve().parent.parent


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def backup_command(
    data_dir: Path, shred_log: Path, *args: str, **servers: str
) -> subprocess.CompletedProcess[str]:
    """The command on ``data_dir``'s embedded servers, or on ``servers`` (DATABASE_URL, ...)."""
    env = dict(os.environ, CASE_DATA_DIR=str(data_dir), CASE_SHRED_LOG=str(shred_log))
    for outside in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
        env.pop(outside, None)
    env.update(servers)
    return subprocess.run(
        [sys.executable, "-m", "commands.backup", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )


@dataclass
class Site:
    settings: Settings
    pool: asyncpg.Pool
    plain: Client  # no codec: what the Temporal server stores
    address: str
    app: FastAPI
    abh: httpx.AsyncClient


@contextlib.asynccontextmanager
async def site_on(data_dir: Path, shred_log: Path, task_queue: str) -> AsyncIterator[Site]:
    """The whole service on ``data_dir``'s embedded servers: PostgreSQL, Temporal, a worker,
    the API, and an ABH caseworker logged in with a back-office token."""
    settings = Settings().model_copy(
        update={"data_dir": data_dir, "shred_log": shred_log, "task_queue": task_queue}
    )
    async with contextlib.AsyncExitStack() as stack:
        dsn = stack.enter_context(embedded_postgres(data_dir))
        address = await stack.enter_async_context(temporal_dev_server(data_dir, free_port(), None))
        pool = await stack.enter_async_context(open_pool(dsn))
        await apply_migrations(pool)
        client = await connect(address, "default")
        await stack.enter_async_context(build_worker(client, pool, settings))
        app = create_app(settings, client=client, pool=pool)
        await stack.enter_async_context(app.router.lifespan_context(app))
        session = await login_session(app, Role.ABH)
        token = await app.state.accounts.create_api_token(f"bo-{uuid.uuid4().hex[:6]}")
        abh = await stack.enter_async_context(http_client(app, session=session, token=token))
        yield Site(settings, pool, client, address, app, abh)


async def case_payloads(site: Site, case_id: str) -> list[Payload]:
    history = await site.plain.get_workflow_handle(workflow_id(case_id)).fetch_history()
    return [p for e in history.events for p in payloads_in(e)]


async def test_a_restore_into_fresh_servers_resumes_the_cases_and_keeps_an_erasure(
    tmp_path: Path,
) -> None:
    shred_log = tmp_path / "shred" / "shredded-keys.log"
    first, second, backup = tmp_path / "a", tmp_path / "b", tmp_path / "backup"
    queue = f"backup-{uuid.uuid4().hex[:8]}"

    async with site_on(first, shred_log, queue) as site:
        kept = new_case_id()
        assert (await site.abh.post(f"{V1}/status-events", json=opening(kept))).status_code == 202
        gone = new_case_id()
        opened = await site.abh.post(f"{V1}/status-events", json=opening(gone))
        assert opened.status_code == 202, opened.text
        moved = await site.abh.post(f"{V1}/status-events", json=event(gone, 2, status="weggezogen"))
        assert moved.json()["stage"] == "closed", moved.text
        late = new_case_id()  # open at the backup, closed and erased after it
        assert (await site.abh.post(f"{V1}/status-events", json=opening(late))).status_code == 202

        made = backup_command(first, shred_log, "create", "--out", str(backup))
        assert made.returncode == 0, made.stderr
        assert sorted(p.name for p in backup.iterdir()) == [
            "cases.dump", "manifest.json", "temporal.db"
        ]  # fmt: skip

        # After the backup: the moved-away case is erased (its key shredded, logged).
        result = await erase_case(site.pool, site.app.state.keys, gone, reason="manual")
        assert result.keys_shredded == 1
        closing = event(late, 2, status="weggezogen")
        assert (await site.abh.post(f"{V1}/status-events", json=closing)).status_code == 202
        await erase_case(site.pool, site.app.state.keys, late, reason="manual")
        logged = shredlog.read(shred_log)
        assert len(logged) == 2
        assert gone not in shred_log.read_text()  # key ids and times only
        # The service goes on after the backup; the restore takes these back.
        assert (await site.abh.get(f"{V1}/cases/{kept}")).status_code == 200

    # A second service on the restored folder is refused while the restore holds it, and the
    # restore refuses a folder whose service runs (the data folder lock).
    with data_folder_lock(second):
        busy = backup_command(second, shred_log, "restore", "--from", str(backup))
    assert busy.returncode == 1 and "in use" in busy.stderr, busy.stderr

    restored = backup_command(second, shred_log, "restore", "--from", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "2 shredded again (2 cases" in restored.stdout, restored.stdout

    async with site_on(second, shred_log, queue) as site:
        # The erased case: key shredded, personal rows gone, payloads unreadable, no way back.
        key = await site.pool.fetchrow(
            "SELECT key_id, wrapped, shredded_at FROM data_keys WHERE scope = $1", f"case:{gone}"
        )
        assert key is not None and key["key_id"] == logged[0]
        assert key["wrapped"] is None and key["shredded_at"] is not None
        persons = "SELECT count(*) FROM persons WHERE case_id = $1"
        assert await site.pool.fetchval(persons, gone) == 0
        assert await site.pool.fetchval(persons, kept) == 1
        erased = await site.pool.fetchrow(
            "SELECT c.erased_at, e.reason FROM cases c JOIN erasures e USING (case_id)"
            " WHERE case_id = $1",
            gone,
        )
        assert (
            erased is not None
            and erased["erased_at"] is not None
            and erased["reason"] == "backup-restore"
        )
        payloads = await case_payloads(site, gone)
        assert payloads and {p.metadata["encoding"] for p in payloads} == {ENCODING}
        fresh_ring = KeyRing(site.pool, site.app.state.keys.masters)
        decoded = await CaseCodec(fresh_ring).decode(payloads)
        assert {p.data for p in decoded} == {erased_payload().data}
        back = await site.abh.post(f"{V1}/status-events", json=opening(gone, 3))
        assert back.status_code == 409, back.text
        audit = await site.pool.fetch(
            "SELECT actor, case_id FROM audit_log WHERE action = 'erasure_reapplied' ORDER BY seq"
        )
        assert [(row["actor"], row["case_id"]) for row in audit] == [
            ("backup-restore", gone), ("backup-restore", late), ("backup-restore", None)
        ]  # fmt: skip

        # The case open at the backup runs again in the restored Temporal, its payloads
        # unreadable now: stop-erased ends it, and nothing else.
        late_run = site.plain.get_workflow_handle(workflow_id(late))
        assert (await late_run.describe()).status == WorkflowExecutionStatus.RUNNING
        open_tasks = "SELECT count(*) FROM tasks WHERE case_id = $1 AND status = 'open'"
        assert await site.pool.fetchval(open_tasks, late) == 0  # its inbox entry gone too
        assert await site.pool.fetchval(open_tasks, kept) == 1
        port = site.address.rsplit(":", 1)[1]
        stopped = backup_command(second, shred_log, "stop-erased", CASE_TEMPORAL_PORT=port)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("1 workflows"), stopped.stdout
        assert (await late_run.describe()).status == WorkflowExecutionStatus.TERMINATED
        kept_run = site.plain.get_workflow_handle(workflow_id(kept))
        assert (await kept_run.describe()).status == WorkflowExecutionStatus.RUNNING

        # The kept case resumes: its open task, completed, moves the workflow on.
        task_id = await task_of(site.abh, kept, "abh", "information_conversation")
        answer = await complete(site.abh, task_id, conversation())
        assert answer.status_code == 200, answer.text
        assert answer.json()["stage"] == "referral_offer"
        kept_payloads = await case_payloads(site, kept)
        readable = await CaseCodec(KeyRing(site.pool, site.app.state.keys.masters)).decode(
            kept_payloads
        )
        assert erased_payload().data not in {p.data for p in readable}

    # Restoring once more over it is refused without --replace (nothing changed).
    again = backup_command(second, shred_log, "restore", "--from", str(backup))
    assert again.returncode == 1 and "--replace" in again.stderr, again.stderr


def test_a_restore_without_the_shredding_log_is_refused(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "manifest.json").write_text(
        '{"format": 1, "created_at": "x", "case_store": "cases.dump",'
        ' "temporal": {"kind": "sqlite", "file": "temporal.db"}, "files": {}}'
    )
    missing = tmp_path / "nowhere" / "shredded-keys.log"
    refused = backup_command(tmp_path / "data", missing, "restore", "--from", str(backup))
    assert refused.returncode == 1, refused.stderr
    assert "shredding log" in refused.stderr and "--without-shred-log" in refused.stderr
    assert not (tmp_path / "data" / "postgres").exists()  # refused before any server started


def test_the_shredding_log_appends_lines_of_key_ids_and_survives_a_torn_last_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "keys" / "shredded-keys.log"
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    shredlog.append(log, ["k-" + "a" * 24], at)
    shredlog.append(log, ["k-" + "b" * 24, "k-" + "a" * 24], at)
    assert log.read_text().splitlines()[0] == "k-" + "a" * 24 + " 2026-12-03T10:00:00+00:00"
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    with log.open("a") as file:
        file.write("k-cc")  # a write cut off by a crash
    assert shredlog.read(log) == ["k-" + "a" * 24, "k-" + "b" * 24]
    with pytest.raises(shredlog.ShredLogError):
        shredlog.append(log, ["Testnachname"], at)
    log.write_text("Testnachname\nk-" + "a" * 24 + "\n")
    with pytest.raises(shredlog.ShredLogError):
        shredlog.read(log)


async def test_an_external_temporal_on_postgresql_is_dumped_and_restored_by_database_name(
    tmp_path: Path,
) -> None:
    """The external setup: the case store and Temporal's two databases on PostgreSQL. No
    Temporal server runs on PostgreSQL here (the dev server knows SQLite only), so Temporal's
    databases hold a stand-in table: what is tested is that each is dumped and comes back by
    its name, beside the case store."""
    shred_log = tmp_path / "shredded-keys.log"
    names = ("cases", "temporal", "temporal_visibility")
    with embedded_postgres(tmp_path / "old") as old, embedded_postgres(tmp_path / "new") as new:
        for server in (old, new):
            admin = await asyncpg.connect(server)
            try:
                for name in names:
                    await admin.execute(f"CREATE DATABASE {name}")
            finally:
                await admin.close()
        async with open_pool(with_database(old, "cases")) as pool:
            await apply_migrations(pool)
            applied = await pool.fetchval("SELECT count(*) FROM schema_migrations")
        for name in names[1:]:
            con = await asyncpg.connect(with_database(old, name))
            try:
                await con.execute("CREATE TABLE executions (workflow_id text PRIMARY KEY)")
                await con.execute("INSERT INTO executions VALUES ($1)", f"in-{name}")
            finally:
                await con.close()
        external = {"DATABASE_URL": with_database(old, "cases"), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
        backup = tmp_path / "backup"
        without = backup_command(tmp_path, shred_log, "create", "--out", str(backup), **external)
        assert without.returncode == 1 and "--temporal-dsn" in without.stderr, without.stderr
        dsns = [f"--temporal-dsn={with_database(old, name)}" for name in names[1:]]
        made = backup_command(tmp_path, shred_log, "create", "--out", str(backup), *dsns,
                              **external)  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert sorted(p.name for p in backup.iterdir()) == [
            "cases.dump", "manifest.json", "temporal-temporal.dump",
            "temporal-temporal_visibility.dump",
        ]  # fmt: skip

        target = {"DATABASE_URL": with_database(new, "cases"), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
        new_dsns = [f"--temporal-dsn={with_database(new, name)}" for name in names[1:]]
        one_missing = backup_command(tmp_path, shred_log, "restore", "--from", str(backup),
                                     "--without-shred-log", new_dsns[0], **target)  # fmt: skip
        assert one_missing.returncode == 1, one_missing.stderr
        assert "temporal_visibility" in one_missing.stderr
        restored = backup_command(tmp_path, shred_log, "restore", "--from", str(backup),
                                  "--without-shred-log", *new_dsns, **target)  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        for name in names[1:]:
            con = await asyncpg.connect(with_database(new, name))
            try:
                assert await con.fetchval("SELECT workflow_id FROM executions") == f"in-{name}"
            finally:
                await con.close()
        async with open_pool(with_database(new, "cases")) as pool:
            assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == applied


async def test_reapplying_the_log_erases_an_arrival_again_and_a_second_run_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    """A restored database that still holds an arrival the log says was erased (the arrival
    row as the intake writes it), and a key made after the backup (not in the database)."""
    keys = KeyRing(pool, MasterKeys(text=KeyRingData.generate().to_json()))
    key = await keys.key_for(arrival_scope("NZ-4711"))
    await pool.execute(
        "INSERT INTO arrivals (arrival_id, reference, event_id, town, language, effective_date,"
        " received_at, given_name, family_name, email, outcome, finished_at)"
        " VALUES ($1, 'NZ-4711', 'NZ-4711-e1', 'Unna', 'ar', current_date, now(),"
        " 'Testvorname', 'Testnachname', 'test@example.org', 'emailed', now())",
        uuid.uuid4(),
    )
    later = "k-" + "f" * 24

    first = await reapply_shredding(pool, [key.key_id, later])
    assert first.model_dump() == {
        "keys_in_log": 2, "shredded_again": 1, "already_shredded": 0, "not_in_backup": 1,
        "cases_erased_again": 0, "arrival_references_erased_again": 1,
    }  # fmt: skip
    row = await pool.fetchrow("SELECT given_name, email, erased_at FROM arrivals")
    assert row is not None and row["given_name"] is None and row["email"] is None
    assert row["erased_at"] is not None
    assert await KeyRing(pool, keys.masters).key_by_id(key.key_id) is None  # shredded
    entries = await pool.fetch(
        "SELECT case_id FROM audit_log WHERE action = 'erasure_reapplied' ORDER BY seq"
    )
    assert [entry["case_id"] for entry in entries] == ["arrival-NZ-4711", None]

    again = await reapply_shredding(pool, [key.key_id, later])
    assert (again.shredded_again, again.already_shredded, again.not_in_backup) == (0, 1, 1)
