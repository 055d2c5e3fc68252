"""The team lead's reassignment and the case page's departure and reopening forms in a real
browser (Debian's headless Chromium under Playwright), as tests/test_browser.py does it: the
keyboard alone where a form is used, axe-core clean at 1280 and at 320 px.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from playwright.async_api import Page, expect
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from tests.browserkit import (
    assert_accessible,
    log_in,
    new_person,
    tab_to,
    type_date,
    type_into,
)
from tests.sitekit import PASSWORD, Site, today
from web import labels
from workflows.case import workflow_id


async def pick(page: Page, selector: str, value: str, limit: int = 8) -> None:
    """Tab to a select and choose an option with the arrow keys."""
    await tab_to(page, selector)
    select = page.locator(selector)
    for _ in range(limit):
        if await select.input_value() == value:
            return
        await page.keyboard.press("ArrowDown")
    assert await select.input_value() == value, f"{value} not reached in {selector}"


async def test_a_team_lead_reassigns_tasks_with_the_keyboard(site: Site, page: Page) -> None:
    first, second = await site.open_case(), await site.open_case()
    tasks = [await site.task_id(case_id, "information_conversation") for case_id in (first, second)]
    lead = await new_person(site, Role.ABH)
    account = next(a for a in await site.accounts.list_accounts() if a.username == lead)
    await site.accounts.set_team_lead(account.account_id, True)
    zora = await site.accounts.create_account("zora", "Zora Kollegin", Role.ABH, PASSWORD)

    await log_in(page, lead)
    await tab_to(page, "a[href='/posteingang?ansicht=alle']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Alle offenen der Gruppe: 2")).to_be_visible()
    await assert_accessible(page, "the team lead's inbox")

    # Nothing selected: refused at the form, in German.
    await tab_to(page, "button:text('Ausgewählte Aufgaben zuweisen')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("Bitte mindestens eine Aufgabe")
    await assert_accessible(page, "the team lead's inbox with a refusal")

    for task_id in tasks:
        await tab_to(page, f"#wahl-{task_id}")
        await page.keyboard.press("Space")
        await expect(page.locator(f"#wahl-{task_id}")).to_be_checked()
    await pick(page, "#zuweisen-an", str(zora.account_id))
    await type_into(page, "#zuweisen-kommentar", "Urlaubsvertretung")
    await tab_to(page, "button:text('Ausgewählte Aufgaben zuweisen')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["zugewiesen_alle"])
    for case_id in (first, second):
        row = page.get_by_role("row").filter(has_text=case_id)
        await expect(row.get_by_role("cell", name="Zora Kollegin")).to_be_visible()
    await assert_accessible(page, "the team lead's inbox after the reassignment")
    assert await site.pool.fetchval(
        "SELECT count(*) FROM tasks WHERE assigned_to = $1", zora.account_id
    ) == 2  # fmt: skip


async def run_ended(env: WorkflowEnvironment, case_id: str) -> None:
    handle = env.client.get_workflow_handle(workflow_id(case_id))
    for _ in range(100):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run of {case_id} did not end")


async def test_the_departure_and_the_reopening_forms_with_the_keyboard(
    site: Site,
    page: Page,
    dev_env: WorkflowEnvironment,
) -> None:
    case_id = await site.open_case()
    await log_in(page, await new_person(site, Role.ABH))
    await expect(page).to_have_url(re.compile(r"/posteingang$"))
    await page.goto(f"/faelle/{case_id}")

    # Ausreise erfassen: sent empty, it opens again with the refusal at each field.
    await tab_to(page, "summary:text('Ausreise erfassen')")
    await page.keyboard.press("Enter")
    await tab_to(page, "button:text('Ausreise erfassen: speichern')")
    await page.keyboard.press("Enter")
    kind = page.locator("#ausreise-kind")
    await expect(kind).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#ausreise-kind-fehler")).to_have_text(
        "Bitte angeben, wie die Person das Land verlassen hat."
    )
    await assert_accessible(page, "the departure form with refusals")

    await pick(page, "#ausreise-kind", "self_organised")
    await pick(page, "#ausreise-proof", "other")
    await type_date(page, "#ausreise-crossed_on", today())
    await type_into(page, "#ausreise-description", "Bestätigung der Botschaft")
    await tab_to(page, "button:text('Ausreise erfassen: speichern')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["ausreise_erfasst"])
    await run_ended(dev_env, case_id)

    # Closed: "Fall wieder eröffnen", a deadline before the decision refused first.
    await page.goto(f"/faelle/{case_id}")
    await expect(page.locator("main")).to_contain_text("freiwillig ausgereist")
    await assert_accessible(page, "the closed case's page")
    await tab_to(page, "summary:text('Fall wieder eröffnen')")
    await page.keyboard.press("Enter")
    await pick(page, "#wiedereroeffnung-status", "ausreisepflichtig")
    await type_date(page, "#wiedereroeffnung-effective_date", today())
    await type_date(page, "#wiedereroeffnung-departure_deadline", today() - timedelta(days=1))
    await tab_to(page, "button:text('Fall wieder eröffnen: speichern')")
    await page.keyboard.press("Enter")
    await expect(page.locator("#wiedereroeffnung-departure_deadline-fehler")).to_have_text(
        "Die Frist darf nicht vor dem Wirksamwerden liegen."
    )
    await assert_accessible(page, "the reopening form with a refusal")
    await type_date(page, "#wiedereroeffnung-departure_deadline", today() + timedelta(days=30))
    await tab_to(page, "button:text('Fall wieder eröffnen: speichern')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["wieder_eroeffnet"])
    await expect(page).to_have_url(re.compile(rf"/faelle/{case_id}\?meldung=wieder_eroeffnet$"))
    await expect(page.locator("main")).to_contain_text("Fall wieder eröffnet: ausreisepflichtig")
    await assert_accessible(page, "the reopened case's page")
