"""Rule sets as versioned data that reach running cases (issue 15, points 3-5).

The proof the issue asks for: cases wait for their escalation decision, a new time rule is
proposed, simulated (it counts the case it concerns) and adopted by a second admin; the next
decision is checked against the new rule, and records the version it used.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from commands import rules as rules_cli
from config.settings import Settings
from protection import protect
from schemas.accounts import Account, Role
from schemas.audit import AuditAction
from schemas.case import Outcome
from schemas.local_time import BERLIN
from schemas.report import ReportRequest
from schemas.rule_sets import RuleSetContent, RuleSetProposal
from schemas.time_rules import TimeRule
from service.accounts import AccountService
from service.cases import CaseService
from service.errors import Forbidden, Invalid, RulesChanged
from service.report import ReportService
from service.rules import RuleService, berlin_today
from tests.casekit import CaseDriver, running_worker
from tests.test_api import logged_in
from tests.test_case_workflow import TIMINGS, conversation, escalated, planned
from web import labels

PASSWORD = "ein-langes-testpasswort"
DAY = timedelta(days=1)

# The new rule: no enforcement with a child under 16 between 18:00 and 08:00.
EVENING_RULE = TimeRule(
    rule_id="beispiel-abendruhe",
    title="Keine Abschiebung mit Kindern unter 16 zwischen 18:00 und 08:00",
    source="Beispielerlass (Test)",
    child_younger_than=16,
    night_from=time(18, 0),
    night_until=time(8, 0),
)


async def admins(pool: asyncpg.Pool) -> tuple[Account, Account]:
    accounts = AccountService(pool, Settings())
    first = await accounts.create_account("r.egel", "Rita Egel", Role.ADMIN, PASSWORD)
    second = await accounts.create_account("z.weit", "Zora Weit", Role.ADMIN, PASSWORD)
    return first, second


def proposal(content: RuleSetContent, **changes: object) -> RuleSetProposal:
    return RuleSetProposal(adopted_from=berlin_today(), content=content.model_copy(update=changes))


async def audit_actions(pool: asyncpg.Pool) -> list[tuple[str, str, dict[str, object]]]:
    rows = await pool.fetch("SELECT actor, action, detail FROM audit_log ORDER BY seq")
    return [(row["actor"], row["action"], row["detail"]) for row in rows]


async def test_four_eyes_the_proposer_cannot_adopt_and_both_steps_are_audited(
    pool: asyncpg.Pool,
) -> None:
    rules = RuleService(pool, Settings())
    first, second = await admins(pool)
    assert [(v.version, v.state.value) for v in await rules.versions()] == [(1, "adopted")]
    current = await rules.in_force()
    longer = current.content.timings.model_copy(update={"conversation_due": 21 * DAY})
    made = await rules.propose(proposal(current.content, timings=longer), by=first)
    assert made.version == 2 and made.state.value == "proposed"

    with pytest.raises(Forbidden, match="Vier-Augen-Prinzip"):
        await rules.adopt(2, by=first)
    assert (await rules.in_force()).version == 1
    # The database refuses it too, whatever the service would do.
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE rule_sets SET state = 'adopted', adopted_by = proposed_by, adopted_at = now()"
            " WHERE version = 2"
        )

    adopted = await rules.adopt(2, by=second)
    assert adopted.state.value == "adopted" and adopted.adopted_by == second.account_id
    assert (await rules.in_force()).content.timings.conversation_due == 21 * DAY
    assert adopted.simulation is not None and adopted.simulation.compared_with == 1
    logged = await audit_actions(pool)
    assert [(actor, action) for actor, action, _ in logged][-2:] == [
        ("r.egel", AuditAction.RULES_PROPOSED.value),
        ("z.weit", AuditAction.RULES_ADOPTED.value),
    ]
    detail = logged[-1][2]
    assert detail["version"] == 2 and detail["proposed_by"] == first.account_id
    assert detail["running_cases"] == 0 and detail["compared_with"] == 1

    # An adoption never reaches back: not before today, not before the last one adopted.
    with pytest.raises(Invalid) as refused:
        await rules.propose(
            RuleSetProposal(adopted_from=berlin_today() - DAY, content=current.content), by=first
        )
    assert refused.value.fields[0].field == "adopted_from"
    abh = await AccountService(pool, Settings()).create_account(
        "s.ach", "Sam Ach", Role.ABH, PASSWORD
    )
    with pytest.raises(Forbidden):
        await rules.propose(proposal(current.content), by=abh)


@pytest.fixture
async def worker(time_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with running_worker(time_env, pool) as task_queue:
        yield task_queue


async def test_a_time_rule_adopted_while_cases_wait_checks_their_next_decision(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool, worker: str
) -> None:
    settings = Settings()
    rules = RuleService(pool, settings)
    cases = CaseService(protect(time_env.client, pool, settings), pool, settings, rules)
    first, second = await admins(pool)
    await rules.in_force()  # version 1, the configured set
    with_child = CaseDriver(time_env, pool, worker, TIMINGS)
    without = CaseDriver(time_env, pool, worker, TIMINGS)
    try:
        today = await with_child.today()
        await escalated(with_child, children=(today.replace(year=today.year - 15),))
        await escalated(without)
        day = (await with_child.today()) + 10 * DAY
        evening = datetime.combine(day, time(19, 0), BERLIN)  # allowed by version 1

        content = (await rules.in_force()).content
        await rules.propose(
            proposal(content, time_rules=(*content.time_rules, EVENING_RULE)), by=first
        )
        # Before the adoption: both cases wait for a decision, the new rule concerns one.
        simulation = await rules.simulate(2)
        assert (simulation.decisions_open, simulation.decisions_under_changed_rule) == (2, 1)
        assert simulation.due_dates_moved == 0 and simulation.routes_changed == 0
        await rules.adopt(2, by=second)
        audited = (await audit_actions(pool))[-1][2]
        assert audited["decisions_under_changed_rule"] == 1 and audited["version"] == 2

        # The next decision of the case with the child is checked against the new rule.
        task = await with_child.task_id("escalation")
        with pytest.raises(Invalid) as refused:
            await cases.complete_task(task, planned(evening))
        assert [(f.field, EVENING_RULE.title in f.reason) for f in refused.value.fields] == [
            ("enforcement_at", True)
        ]
        # The committee report counts the refusal under the rule of the version in force.
        facts = await pool.fetch(
            "SELECT attributes FROM report_facts WHERE kind = 'time_rule_refusal' AND case_id = $1",
            with_child.case_id,
        )
        assert [row["attributes"]["rules"] for row in facts] == [[EVENING_RULE.rule_id]]
        # The other case is not concerned by it; the first one decides within the rule.
        await cases.complete_task(await without.task_id("escalation"), planned(evening))
        morning = datetime.combine(day, time(10, 0), BERLIN)
        await cases.complete_task(task, planned(morning))
        assert await with_child.open_kinds() == ["enforcement_result"]
        versions = await pool.fetch(
            "SELECT kind, due_rule_version, decided_rule_version FROM tasks WHERE case_id = $1"
            " AND kind IN ('escalation', 'enforcement_result') ORDER BY created_at",
            with_child.case_id,
        )
        assert [tuple(row) for row in versions] == [
            ("escalation", 1, 2),  # due by version 1, decided under version 2
            ("enforcement_result", 2, None),
        ]

        # A proposal forbidding the morning: the planned enforcement it would break counts.
        morning_rule = EVENING_RULE.model_copy(
            update={
                "rule_id": "beispiel-vormittag",
                "child_younger_than": None,
                "night_from": time(9, 0),
                "night_until": time(12, 0),
            }
        )
        current = (await rules.in_force()).content
        await rules.propose(
            proposal(current, time_rules=(*current.time_rules, morning_rule)), by=second
        )
        later = await rules.simulate(3)
        assert (later.enforcements_planned, later.enforcements_breaking) == (2, 1)
        assert later.enforcements_newly_breaking == 1 and later.decisions_open == 0
    finally:
        await with_child.terminate()
        await without.terminate()


async def test_the_conversation_is_checked_against_the_version_its_form_showed(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool, worker: str
) -> None:
    settings = Settings()
    rules = RuleService(pool, settings)
    cases = CaseService(protect(time_env.client, pool, settings), pool, settings, rules)
    first, second = await admins(pool)
    shown = await rules.in_force()  # the form showed version 1's routes
    case = CaseDriver(time_env, pool, worker, TIMINGS)
    try:
        await case.open()
        task = await case.task_id("information_conversation")
        held = conversation(await case.today())
        routes = shown.content.residence_routes
        first_version = routes.on(date.today())[0]
        reworded = first_version.model_copy(update={"title": f"{first_version.title} (neu)"})
        changed = routes.model_copy(
            update={
                "versions": tuple(reworded if v is first_version else v for v in routes.versions)
            }
        )
        await rules.propose(proposal(shown.content, residence_routes=changed), by=first)
        assert (await rules.simulate(2)).routes_changed == 1
        assert (await rules.simulate(2)).conversations_with_other_routes == 1
        await rules.adopt(2, by=second)

        with pytest.raises(RulesChanged, match="Version 1, jetzt gilt Version 2"):
            await cases.complete_task(task, held, rule_version=shown.version)
        assert await case.open_kinds() == ["information_conversation"]
        await cases.complete_task(task, held, rule_version=2)
        decided = await pool.fetchval(
            "SELECT decided_rule_version FROM tasks WHERE task_id = $1", task
        )
        assert decided == 2
    finally:
        await case.terminate()


async def test_a_report_names_the_versions_in_force_in_its_period(pool: asyncpg.Pool) -> None:
    settings = Settings()
    rules = RuleService(pool, settings)
    reports = ReportService(pool, rules)
    first, second = await admins(pool)
    today = berlin_today()
    current = await rules.in_force()
    longer = current.content.timings.model_copy(update={"conversation_due": 21 * DAY})
    later = RuleSetProposal(
        adopted_from=today + 10 * DAY,
        content=current.content.model_copy(update={"timings": longer}),
    )
    await rules.propose(later, by=first)
    await rules.adopt(2, by=second)

    before = await reports.generate(ReportRequest(period_from=today, period_to=today + DAY), "test")
    assert [v.version for v in before.rules.versions] == [1]
    # A period before version 1 was written: the configuration it holds was in force then.
    past = ReportRequest(period_from=date(2025, 1, 1), period_to=date(2025, 1, 31))
    assert [v.version for v in (await reports.generate(past, "test")).rules.versions] == [1]
    both = await reports.generate(
        ReportRequest(period_from=today, period_to=today + 20 * DAY), "test"
    )
    assert [(v.version, v.adopted_from) for v in both.rules.versions] == [
        (1, today),
        (2, today + 10 * DAY),
    ]
    assert f"Version 2 (ab {today + 10 * DAY:%d.%m.%Y}" in both.rules.label
    assert both.rules.digest != before.rules.digest
    assert (await reports.verify(both.report_id)).ok

    # A version's content changed behind the service's back: the report no longer holds.
    await pool.execute("UPDATE rule_sets SET content_digest = 'verfaelscht' WHERE version = 2")
    checked = await reports.verify(both.report_id)
    assert checked.problems == ["rule-set version 2 says otherwise now"]


async def test_a_case_closing_gets_its_erasure_date_from_the_version_in_force(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool, worker: str
) -> None:
    rules = RuleService(pool, Settings())
    first, second = await admins(pool)
    current = (await rules.in_force()).content
    shorter = tuple(
        rule.model_copy(update={"keep_years": 5})
        if rule.outcome is Outcome.DEPARTED_VOLUNTARILY
        else rule
        for rule in current.retention.rules
    )
    retention = current.retention.model_copy(update={"rules": shorter})
    await rules.propose(proposal(current, retention=retention), by=first)
    await rules.adopt(2, by=second)
    case = CaseDriver(time_env, pool, worker, TIMINGS)
    try:
        await case.open()
        await case.event("ausgereist")
        row = await case.case_row()
        closed_on = await case.today()
        assert row["outcome"] == "departed_voluntarily"
        assert row["erase_after"] == closed_on.replace(year=closed_on.year + 5)
    finally:
        await case.terminate()


async def test_the_page_proposes_and_a_second_admin_adopts_after_the_simulation(
    pool: asyncpg.Pool, app: FastAPI
) -> None:
    tomorrow = berlin_today() + DAY
    async with logged_in(app, "admin") as first, logged_in(app, "admin") as second:
        page = await first.get("/admin/regeln")
        assert page.status_code == 200 and "Es gilt <strong>Version 1</strong>" in page.text
        form = {"adopted_from": tomorrow.isoformat(), "conversation_due": "21"}
        form |= {name: "14" for name in labels.RULE_DURATIONS if name != "conversation_due"}
        form["unreachable_after"] = "3"
        refused = await first.post("/admin/regeln", data={**form, "conversation_due": "null"})
        assert refused.status_code == 422 and "bitte eine Zahl von Tagen angeben" in refused.text
        broken = await first.post(
            "/admin/regeln", data=form, files={"datei": ("r.json", b"{kein json", "text/json")}
        )
        assert broken.status_code == 422 and "Die Datei ist kein JSON." in broken.text
        made = await first.post("/admin/regeln", data=form)
        assert made.status_code == 303, made.text

        own = await first.get("/admin/regeln")
        assert "Sie haben diese Version vorgeschlagen" in own.text
        assert "/admin/regeln/2/annehmen" not in own.text
        assert (await first.post("/admin/regeln/2/annehmen")).status_code == 403
        offered = await second.get("/admin/regeln")
        assert "Simulation über die laufenden Fälle, verglichen mit Version 1" in offered.text
        assert 'action="/admin/regeln/2/annehmen"' in offered.text
        adopted = await second.post("/admin/regeln/2/annehmen")
        assert adopted.status_code == 303
        shown = await second.get(adopted.headers["location"])
        assert "Vorschlag: Version 2" not in shown.text
    rules = RuleService(pool, Settings())
    assert (await rules.in_force(tomorrow)).content.timings.conversation_due == 21 * DAY
    assert (await rules.in_force()).version == 1  # from tomorrow, not today


async def test_the_command_proposes_from_a_shown_version_and_keeps_four_eyes(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    rules, accounts = RuleService(pool, Settings()), AccountService(pool, Settings())
    await admins(pool)

    async def command(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await rules_cli.execute(
            rules, accounts, rules_cli.build_parser().parse_args(argv), out
        )
        return code, out.getvalue()

    code, shown = await command("show")
    assert code == 0
    data = json.loads(shown)
    data["content"]["timings"]["conversation_due"] = "P21D"
    file = tmp_path / "regelwerk.json"
    file.write_text(json.dumps(data), "utf-8")
    assert await command(
        "propose",
        "--file",
        str(file),
        "--by",
        "r.egel",
        "--adopted-from",
        berlin_today().isoformat(),
    ) == (0, f"version 2 proposed, from {berlin_today()}\n")
    assert (await command("adopt", "2", "--by", "r.egel"))[0] == 1
    assert (await command("simulate", "2"))[1].startswith("compared_with: 1\n")
    assert (await command("adopt", "2", "--by", "z.weit"))[0] == 0
    code, listed = await command("list")
    assert (
        listed.splitlines()[0].startswith("   2  adopted") and "in force" in listed.splitlines()[0]
    )
    data["content"]["timings"]["unreachable_after"] = 1000
    file.write_text(json.dumps(data), "utf-8")
    assert (await command("propose", "--file", str(file), "--by", "r.egel"))[0] == 1
    file.write_text("{kein json", "utf-8")
    assert (await command("propose", "--file", str(file), "--by", "r.egel"))[0] == 1
    assert (await command("propose", "--file", str(tmp_path / "fehlt.json"), "--by", "r.egel"))[
        0
    ] == 1
