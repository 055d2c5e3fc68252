"""A team lead reassigns in bulk (issue 14, point 6): the flag an admin sets on an ABH or KI
account, and the lead's reassignment of the team's open tasks, all or none, through the
service, the API and the inbox, each change in the assignment history and the audit log.

On a real PostgreSQL; the API and the pages with the Temporal dev server and a worker.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from commands import accounts as accounts_cli
from config.settings import Settings
from schemas.accounts import Account, Role
from schemas.events import StatusEvent
from schemas.reassignment import TaskReassignment
from service.accounts import AccountService
from service.errors import AccountError, Conflict, Forbidden, Invalid
from service.inbox import InboxService
from store import accounts as account_store
from store import cases as case_store
from tests.sitekit import PASSWORD, Site
from tests.test_api import V1, account_service, http_client

NOW = datetime.now(UTC)


async def new_account(
    accounts: AccountService, role: Role, *, lead: bool = False, name: str | None = None
) -> Account:
    username = f"{role.value}-{uuid.uuid4().hex[:8]}"
    account = await accounts.create_account(username, name or f"Test {username}", role, PASSWORD)
    if lead:
        account = await accounts.set_team_lead(account.account_id, True)
    return account


async def new_case(pool: asyncpg.Pool) -> str:
    case_id = f"TL-{uuid.uuid4().hex[:10]}"
    event = StatusEvent.model_validate(
        {
            "event_id": f"{case_id}-e1",
            "case_id": case_id,
            "status": "ausreisepflichtig",
            "effective_date": date.today().isoformat(),
            "person": {
                "given_name": "Testvorname",
                "family_name": "Testnachname",
                "date_of_birth": "1990-04-01",
                "nationality": "IRQ",
                "language": "ar",
                "address": {"street": "Markt 1", "postal_code": "59423", "town": "Unna"},
            },
        }
    )
    async with pool.acquire() as con:
        await case_store.insert_case(con, event, NOW)
    return case_id


async def new_task(
    pool: asyncpg.Pool,
    case_id: str,
    *,
    queue: str = "abh",
    assigned_to: int | None = None,
    status: str = "open",
) -> str:
    task_id = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at,"
        " assigned_to) VALUES ($1, $2, 'follow_up', $3, $4, $5, $6, $7)",
        task_id,
        case_id,
        queue,
        status,
        NOW + timedelta(days=3),
        NOW,
        assigned_to,
    )
    return task_id


async def assignees(pool: asyncpg.Pool, task_ids: list[str]) -> list[int | None]:
    rows = await pool.fetch(
        "SELECT task_id::text, assigned_to FROM tasks WHERE task_id = ANY($1::uuid[])", task_ids
    )
    found = {row["task_id"]: row["assigned_to"] for row in rows}
    return [found[task_id] for task_id in task_ids]


async def audit_of(pool: asyncpg.Pool, action: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT actor, role, case_id, detail FROM audit_log WHERE action = $1 ORDER BY seq",
            action,
        )
    )


def reassignment(task_ids: list[str], assignee: int | None, **more: Any) -> TaskReassignment:
    return TaskReassignment.model_validate({"task_ids": task_ids, "assignee": assignee, **more})


# ------------------------------------------------------------- the flag


async def test_an_admin_makes_an_abh_or_ki_account_a_team_lead_in_the_audit_log(
    pool: asyncpg.Pool,
) -> None:
    accounts = AccountService(pool)
    admin = await new_account(accounts, Role.ADMIN)
    abh = await new_account(accounts, Role.ABH)
    ki = await new_account(accounts, Role.KI)
    ops = await new_account(accounts, Role.OPS)
    assert not abh.team_lead
    led = await accounts.set_team_lead(abh.account_id, True, by=admin)
    assert led.team_lead and led.role is Role.ABH  # the role stays the account's one role
    assert (await accounts.set_team_lead(ki.account_id, True, by=admin)).team_lead
    # The session carries the flag: the pages and the API see it.
    session = await accounts.open_session(abh)
    seen = await accounts.session_account(session)
    assert seen is not None and seen.team_lead
    with pytest.raises(AccountError, match="nur für Konten der ABH oder des KI"):
        await accounts.set_team_lead(ops.account_id, True, by=admin)
    with pytest.raises(AccountError):
        await accounts.set_team_lead(admin.account_id, True, by=admin)
    # Setting what is set already changes nothing and writes nothing.
    await accounts.set_team_lead(abh.account_id, True, by=admin)
    await accounts.set_team_lead(abh.account_id, False, by=admin)
    assert not next(
        a for a in await accounts.list_accounts() if a.username == abh.username
    ).team_lead
    entries = await audit_of(pool, "account_team_lead_changed")
    assert [(e["actor"], dict(e["detail"])) for e in entries] == [
        (admin.username, {"account_id": abh.account_id, "team_lead": True}),
        (admin.username, {"account_id": ki.account_id, "team_lead": True}),
        (admin.username, {"account_id": abh.account_id, "team_lead": False}),
    ]
    # The database refuses a lead of another role as well (migration 030).
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE accounts SET team_lead = true WHERE account_id = $1", ops.account_id
        )


async def test_the_accounts_cli_sets_and_lists_a_team_lead(
    dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings().model_copy(update={"database_url": dsn})
    accounts = AccountService(pool)
    abh = await new_account(accounts, Role.ABH)
    ops = await new_account(accounts, Role.OPS)
    out = io.StringIO()
    assert await accounts_cli.run(["team-lead", "--username", abh.username],
                                  settings=settings, out=out) == 0  # fmt: skip
    assert out.getvalue() == f"{abh.username} leads the abh team\n"
    listed = io.StringIO()
    assert await accounts_cli.run(["list"], settings=settings, out=listed) == 0
    [line] = [line for line in listed.getvalue().splitlines() if abh.username in line]
    assert line.endswith("  lead")
    assert await accounts_cli.run(["team-lead", "--username", ops.username],
                                  settings=settings) == 1  # fmt: skip
    assert "refused: Teamleitung gibt es nur für Konten der ABH oder des KI" in (
        capsys.readouterr().err
    )
    assert await accounts_cli.run(["team-lead", "--username", abh.username, "--off"],
                                  settings=settings, out=io.StringIO()) == 0  # fmt: skip
    assert not await pool.fetchval(
        "SELECT team_lead FROM accounts WHERE account_id = $1", abh.account_id
    )
    [on, off] = await audit_of(pool, "account_team_lead_changed")
    assert on["actor"] == off["actor"] == "accounts_cli"


# ------------------------------------------------------- the reassignment


async def test_a_lead_reassigns_the_teams_tasks_each_change_kept_and_audited(
    pool: asyncpg.Pool,
) -> None:
    accounts, inbox = AccountService(pool), InboxService(pool)
    lead = await new_account(accounts, Role.ABH, lead=True)
    anna = await new_account(accounts, Role.ABH)
    bernd = await new_account(accounts, Role.ABH)
    case_id = await new_case(pool)
    free = await new_task(pool, case_id)
    annas = await new_task(pool, case_id, assigned_to=anna.account_id)
    bernds = await new_task(pool, case_id, assigned_to=bernd.account_id)

    done = await inbox.reassign(
        lead, reassignment([free, annas, bernds, free], bernd.account_id, comment="Urlaub")
    )
    assert (done.reassigned, done.unchanged) == ([free, annas], [bernds])
    assert await assignees(pool, [free, annas, bernds]) == [bernd.account_id] * 3
    history = await inbox.history(annas)
    assert [(h.action, h.by_account, h.from_account, h.to_account, h.comment) for h in history] == [
        ("reassign", lead.account_id, anna.account_id, bernd.account_id, "Urlaub")
    ]
    entries = await audit_of(pool, "task_reassigned")
    assert [(e["actor"], e["case_id"], dict(e["detail"])) for e in entries] == [
        (lead.username, case_id, {"task_id": t, "from_account": f, "to_account": bernd.account_id})
        for t, f in ((free, None), (annas, anna.account_id))
    ]

    # Back to the team's queue: assigned to nobody.
    released = await inbox.reassign(lead, reassignment([annas, bernds], None))
    assert released.reassigned == [annas, bernds]
    assert await assignees(pool, [annas, bernds]) == [None, None]


async def test_a_reassignment_is_all_or_nothing(pool: asyncpg.Pool) -> None:
    accounts, inbox = AccountService(pool), InboxService(pool)
    lead = await new_account(accounts, Role.ABH, lead=True)
    anna = await new_account(accounts, Role.ABH)
    inactive = await new_account(accounts, Role.ABH)
    await accounts.set_active(inactive.account_id, False)
    ki_colleague = await new_account(accounts, Role.KI)
    case_id = await new_case(pool)
    first = await new_task(pool, case_id, assigned_to=anna.account_id)
    second = await new_task(pool, case_id)
    done = await new_task(pool, case_id, status="completed")
    theirs = await new_task(pool, case_id, queue="ki")
    unknown = str(uuid.uuid4())

    with pytest.raises(Invalid) as refused:
        await inbox.reassign(lead, reassignment([first, unknown, second], lead.account_id))
    assert [(f.field, f.reason) for f in refused.value.fields] == [("task_ids.1", "unknown task")]
    with pytest.raises(Conflict, match="no longer open"):
        await inbox.reassign(lead, reassignment([first, done], lead.account_id))
    with pytest.raises(Forbidden, match="not in the abh team's inbox"):
        await inbox.reassign(lead, reassignment([first, theirs], lead.account_id))
    for colleague in (inactive, ki_colleague):
        with pytest.raises(Invalid) as refused:
            await inbox.reassign(lead, reassignment([first], colleague.account_id))
        assert [f.field for f in refused.value.fields] == ["assignee"]
    with pytest.raises(Invalid):
        await inbox.reassign(lead, reassignment([first], 2**31 - 1))  # no such account

    assert await assignees(pool, [first, second]) == [anna.account_id, None]
    assert await pool.fetchval("SELECT count(*) FROM task_assignments") == 0
    assert await audit_of(pool, "task_reassigned") == []


async def test_only_a_lead_reassigns_and_only_in_their_own_team(pool: asyncpg.Pool) -> None:
    accounts, inbox = AccountService(pool), InboxService(pool)
    member = await new_account(accounts, Role.ABH)
    ki_lead = await new_account(accounts, Role.KI, lead=True)
    ki_colleague = await new_account(accounts, Role.KI)
    admin = await new_account(accounts, Role.ADMIN)
    case_id = await new_case(pool)
    abh_task = await new_task(pool, case_id)
    ki_task = await new_task(pool, case_id, queue="ki")
    for caller in (member, admin):
        with pytest.raises(Forbidden, match="only a team lead"):
            await inbox.reassign(caller, reassignment([abh_task], None))
    with pytest.raises(Forbidden):
        await inbox.reassign(ki_lead, reassignment([abh_task], ki_colleague.account_id))
    await inbox.reassign(ki_lead, reassignment([ki_task], ki_colleague.account_id))
    assert await assignees(pool, [abh_task, ki_task]) == [None, ki_colleague.account_id]


# ------------------------------------------------------------------- API


async def session_of(app: FastAPI, account: Account) -> httpx.AsyncClient:
    return http_client(app, session=await account_service(app).open_session(account))


async def test_the_api_reassigns_for_a_lead_and_names_what_it_refuses(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    accounts = account_service(app)
    lead = await new_account(accounts, Role.ABH, lead=True)
    member = await new_account(accounts, Role.ABH)
    ki = await new_account(accounts, Role.KI)
    case_id = await new_case(pool)
    tasks = [await new_task(pool, case_id) for _ in range(3)]
    url = f"{V1}/tasks/assign"
    async with await session_of(app, lead) as http, await session_of(app, member) as other:
        refused = await other.post(url, json={"task_ids": tasks, "assignee": member.account_id})
        assert refused.status_code == 403, refused.text
        unknown = await http.post(
            url, json={"task_ids": [tasks[0], str(uuid.uuid4())], "assignee": member.account_id}
        )
        assert unknown.status_code == 422
        assert [e["loc"] for e in unknown.json()["errors"]] == [["body", "task_ids", 1]]
        wrong = await http.post(url, json={"task_ids": tasks, "assignee": ki.account_id})
        assert wrong.status_code == 422
        assert [e["loc"] for e in wrong.json()["errors"]] == [["body", "assignee"]]
        missing = await http.post(url, json={"task_ids": tasks})
        assert missing.status_code == 422  # releasing says so: "assignee": null
        assert await assignees(pool, tasks) == [None, None, None]

        done = await http.post(url, json={"task_ids": tasks, "assignee": member.account_id})
        assert done.status_code == 200, done.text
        assert done.json() == {"assignee": member.account_id, "reassigned": tasks, "unchanged": []}
        # Now the member's: the member's own inbox lists them as assigned to them.
        listed = (await other.get(f"{V1}/tasks", params={"case_id": case_id})).json()
        assert {t["task_id"] for t in listed} == set(tasks)
        await pool.execute(
            "UPDATE tasks SET status = 'completed' WHERE task_id = $1::uuid", tasks[2]
        )
        late = await http.post(url, json={"task_ids": tasks, "assignee": None})
        assert late.status_code == 409
        assert await assignees(pool, tasks) == [member.account_id] * 3
    assert len(await audit_of(pool, "task_reassigned")) == 3


async def test_the_api_claims_releases_hands_over_and_deputises_as_the_task_page_does(
    app: FastAPI, pool: asyncpg.Pool
) -> None:
    accounts = account_service(app)
    anna = await new_account(accounts, Role.ABH)
    ben = await new_account(accounts, Role.ABH)
    ki = await new_account(accounts, Role.KI)
    task = await new_task(pool, await new_case(pool))
    url = f"{V1}/tasks/{task}"
    async with (
        await session_of(app, anna) as a,
        await session_of(app, ben) as b,
        await session_of(app, ki) as k,
    ):
        assert (await k.post(f"{url}/claim")).status_code == 404  # not the KI's inbox
        claimed = await a.post(f"{url}/claim")
        assert claimed.status_code == 200, claimed.text
        assert claimed.json() == {"task_id": task, "assigned_to": anna.account_id}
        taken = await b.post(f"{url}/claim")
        assert taken.status_code == 409  # Anna holds it: Ben deputises, saying why
        assert (await b.post(f"{url}/deputy", json={"reason": "  "})).status_code == 422
        deputy = await b.post(f"{url}/deputy", json={"reason": "Anna ist krank"})
        assert deputy.json() == {"task_id": task, "assigned_to": ben.account_id}
        wrong = await b.post(f"{url}/hand-over", json={"assignee": ki.account_id, "comment": "x"})
        assert wrong.status_code == 422
        assert [e["loc"] for e in wrong.json()["errors"]] == [["body", "assignee"]]
        no_comment = await b.post(f"{url}/hand-over", json={"assignee": anna.account_id})
        assert no_comment.status_code == 422
        back = await b.post(
            f"{url}/hand-over", json={"assignee": anna.account_id, "comment": "Zurück an dich"}
        )
        assert back.json() == {"task_id": task, "assigned_to": anna.account_id}
        assert (await b.post(f"{url}/release")).status_code == 409  # Anna's, not Ben's
        released = await a.post(f"{url}/release")
        assert released.json() == {"task_id": task, "assigned_to": None}
        assert (await a.post(f"{url}/release")).status_code == 409  # nobody holds it
    history = await pool.fetch(
        "SELECT action, by_account, to_account, comment FROM task_assignments"
        " WHERE task_id = $1::uuid ORDER BY assignment_id",
        task,
    )
    assert [tuple(row) for row in history] == [
        ("claim", anna.account_id, anna.account_id, None),
        ("deputy", ben.account_id, ben.account_id, "Anna ist krank"),
        ("hand_over", ben.account_id, anna.account_id, "Zurück an dich"),
        ("release", anna.account_id, None, None),
    ]


# ------------------------------------------------------------------ pages


async def test_the_lead_selects_tasks_in_the_inbox_and_reassigns_them_at_once(site: Site) -> None:
    accounts = site.accounts
    lead = await new_account(accounts, Role.ABH, lead=True)
    colleague = await new_account(accounts, Role.ABH, name="Zora Kollegin")
    ki = await new_account(accounts, Role.KI, name="Karl KI")
    case_id = await new_case(site.pool)
    tasks = [await new_task(site.pool, case_id) for _ in range(3)]
    async with await session_of(site.app, lead) as http:
        inbox = await http.get("/posteingang?ansicht=alle")
        assert inbox.status_code == 200
        assert "Alle offenen der Gruppe" in inbox.text
        for task_id in tasks:
            assert f'name="aufgabe" value="{task_id}" id="wahl-{task_id}"' in inbox.text
        assert 'form="sammelzuweisung"' in inbox.text
        assert f'<option value="{colleague.account_id}">Zora Kollegin</option>' in inbox.text
        assert "Karl KI" not in inbox.text  # only colleagues of the own role are offered

        nothing = await http.post("/posteingang/zuweisen", data={"an": colleague.account_id})
        assert nothing.status_code == 422
        assert "Bitte mindestens eine Aufgabe auswählen" in nothing.text
        picked = {"aufgabe": tasks[:2], "an": str(ki.account_id), "ansicht": "alle"}
        wrong = await http.post("/posteingang/zuweisen", data=picked)
        assert wrong.status_code == 422
        assert "aktive Kollegin oder einen aktiven Kollegen der eigenen Gruppe" in wrong.text
        # The selection is kept for the next try.
        assert re.search(rf'value="{tasks[0]}" id="wahl-{tasks[0]}" checked', wrong.text)
        assert not re.search(rf'value="{tasks[2]}" id="wahl-{tasks[2]}" checked', wrong.text)

        picked["an"] = str(colleague.account_id)
        picked["kommentar"] = "Vertretung bis Freitag"
        done = await http.post("/posteingang/zuweisen", data=picked)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/posteingang?ansicht=alle&meldung=zugewiesen_alle"
        shown = await http.get(done.headers["location"])
        assert "Die ausgewählten Aufgaben sind zugewiesen." in shown.text
        task_page = await http.get(f"/aufgaben/{tasks[0]}")
        assert (
            f"neu zugewiesen (Teamleitung) von Test {lead.username} an Zora Kollegin"
            in task_page.text
        )
        assert "„Vertretung bis Freitag“" in task_page.text
    assert await assignees(site.pool, tasks) == [colleague.account_id] * 2 + [None]

    async with await session_of(site.app, colleague) as member:
        mine = await member.get("/posteingang?ansicht=meine")
        assert tasks[0] in mine.text and tasks[1] in mine.text
        assert "Alle offenen der Gruppe" not in mine.text and 'name="aufgabe"' not in mine.text
        # The lead's view is the member's own one: the URL does not open it.
        fallback = await member.get("/posteingang?ansicht=alle")
        assert "<h2>Meine Aufgaben: 2</h2>" in fallback.text
        refused = await member.post(
            "/posteingang/zuweisen", data={"aufgabe": tasks[2], "an": colleague.account_id}
        )
        assert refused.status_code == 403
    assert await assignees(site.pool, tasks[2:]) == [None]


async def test_the_admin_sets_the_team_lead_on_the_accounts_page(site: Site) -> None:
    abh = await new_account(site.accounts, Role.ABH)
    ops = await new_account(site.accounts, Role.OPS)
    async with await site.person(Role.ADMIN) as admin:
        page = await admin.get("/admin/konten")
        assert f'action="/admin/konten/{abh.account_id}/teamleitung"' in page.text
        assert f'action="/admin/konten/{ops.account_id}/teamleitung"' not in page.text
        made = await admin.post(
            f"/admin/konten/{abh.account_id}/teamleitung", data={"teamleitung": "ja"}
        )
        assert made.status_code == 303
        page = await admin.get(made.headers["location"])
        assert "Teamleitung entziehen" in page.text
        refused = await admin.post(
            f"/admin/konten/{ops.account_id}/teamleitung", data={"teamleitung": "ja"}
        )
        assert refused.status_code == 409
        assert "Teamleitung gibt es nur für Konten der ABH oder des KI" in refused.text
        unknown = await admin.post("/admin/konten/999999/teamleitung", data={"teamleitung": "ja"})
        assert unknown.status_code == 404
    assert await site.pool.fetchval(
        "SELECT team_lead FROM accounts WHERE account_id = $1", abh.account_id
    )
    async with await site.person(Role.ABH) as abh_client:
        assert (await abh_client.get("/admin/konten")).status_code == 403


async def test_a_single_sign_on_that_changes_the_role_ends_the_lead(pool: asyncpg.Pool) -> None:
    accounts = AccountService(pool)
    kept = await new_account(accounts, Role.ABH, lead=True)
    moved = await new_account(accounts, Role.ABH, lead=True)
    async with pool.acquire() as con, con.transaction():
        await account_store.update_sso_account(con, kept.account_id, "Gleiche Rolle", Role.ABH)
        await account_store.update_sso_account(con, moved.account_id, "Jetzt Betrieb", Role.OPS)
    leads = {a.account_id: a.team_lead for a in await accounts.list_accounts()}
    assert leads[kept.account_id] and not leads[moved.account_id]
