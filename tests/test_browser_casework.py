"""A working day in the browser: finding a case, the context beside a task, and the forms of
the case page, with the keyboard alone and axe-core clean at 1280 and 320 px.

With ``CASE_SCREENSHOTS=docs`` these walks save the pictures of
``docs/arbeiten-im-posteingang.md``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import Page, expect

from schemas.accounts import Role
from tests.browserkit import (
    assert_accessible,
    log_in,
    new_person,
    screenshot,
    tab_to,
    type_date,
    type_into,
)
from tests.sitekit import Site, today
from tests.test_web import referred_on_the_pages


async def send(page: Page, button: str) -> None:
    """Tab to the form's button, Enter, and wait for the page that answers."""
    await tab_to(page, button)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()


async def open_details(page: Page, summary: str) -> None:
    """A form of the case page is a disclosure: Tab to its summary, Enter opens it."""
    await tab_to(page, f"summary:text-is('{summary}')")
    await page.keyboard.press("Enter")


async def test_a_caseworker_finds_a_case_by_a_part_of_the_name_and_opens_it(
    site: Site, page: Page
) -> None:
    mueller = await site.open_case(family_name="Müller", given_name="Amal")
    await site.open_case(family_name="Özdemir", given_name="Deniz", town="Kamen")
    await site.open_case(family_name="Schmidt", given_name="Rana", town="Kamen")
    username = await new_person(site, Role.ABH)

    await log_in(page, username)
    await tab_to(page, "nav a[href='/faelle']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Fälle", exact=True)).to_be_visible()
    # Without umlauts and only a part: "muell" finds Müller, and nobody else.
    await type_into(page, "#q", "muell")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Müller, Amal")
    await expect(page.locator("caption")).to_have_text("1 Fall")
    await assert_accessible(page, "a name search")

    # The town filter and a sort by name: Özdemir before Schmidt (ö sorts as o).
    await page.locator("#q").fill("")
    await tab_to(page, "#town")
    await page.locator("#town").select_option("Kamen")
    await send(page, "button:text('Suchen')")
    await expect(rows).to_have_count(2)
    await tab_to(page, "th a:has-text('Name')")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Name")
    names = [
        text.split(",")[0] for text in await rows.locator("td[data-label='Name']").all_inner_texts()
    ]
    assert names == ["Özdemir", "Schmidt"]
    await screenshot(page, "faelle.png", 1100)
    await assert_accessible(page, "the case list, filtered and sorted")

    # A date that is no date is refused at its field, in German.
    await page.goto("/faelle?born_on=1990-02-31")
    await expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie Ihre Suche")
    await expect(page.locator("#born_on")).to_have_attribute("aria-invalid", "true")

    # Opening a case from the list is in the access log, as every opening is.
    await page.goto("/faelle?q=m%C3%BCller")
    await tab_to(page, f"tbody a[href='/faelle/{mueller}']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=re.compile(mueller))).to_be_visible()
    opened = await site.pool.fetchval(
        "SELECT count(*) FROM access_log WHERE case_id = $1 AND username = $2", mueller, username
    )
    assert opened == 1


async def test_the_task_page_says_who_the_person_is_and_who_lives_with_them(
    site: Site, page: Page
) -> None:
    child_born = today().replace(year=today().year - 13) - timedelta(days=10)
    case_id = await site.open_case(
        language="fa", children=(child_born.isoformat(),), family_name="Rahimi", given_name="Sara"
    )
    username = await new_person(site, Role.ABH)
    task_id = await site.task_id(case_id, "information_conversation")

    await log_in(page, username, path=f"/aufgaben/{task_id}")
    await expect(page.get_by_role("heading", name="Informationsgespräch")).to_be_visible()
    context = page.locator("section[aria-labelledby='kontext']")
    await expect(context).to_contain_text("Sara Rahimi")
    await expect(context).to_contain_text(
        "Farsi/Dari"
    )  # the language by its German name, never "fa"
    await expect(context).to_contain_text("Irak")  # the nationality too, never "IRQ"
    await expect(context).to_contain_text("13 Jahre")
    await expect(context).to_contain_text(f"{today() + timedelta(days=90):%d.%m.%Y}")
    await screenshot(page, "aufgabe-mit-kontext.png", 1100)
    await assert_accessible(page, "a task with its context")


async def test_notes_and_a_deadline_extension_on_the_case_page_with_the_keyboard(
    site: Site, page: Page
) -> None:
    case_id = await site.open_case()
    username = await new_person(site, Role.ABH)

    await log_in(page, username, path=f"/faelle/{case_id}")
    await open_details(page, "Notiz hinzufügen")
    await type_into(page, "#notiz-text", "Termin bei der Botschaft am Montag.")
    await send(page, "button:text('Notiz hinzufügen: speichern')")
    await expect(page.get_by_role("status")).to_contain_text("Die Notiz ist gespeichert.")
    notes = page.locator("h2:text('Notizen') + *")
    await expect(notes).to_contain_text("Termin bei der Botschaft am Montag.")
    await expect(notes).to_contain_text("Erika ABH")

    # A deadline before today is refused at the field; what was typed stays.
    await open_details(page, "Ausreisefrist verlängern (§ 59 Abs. 1 AufenthG)")
    await type_date(page, "#ausreisefrist-new_deadline", today() - timedelta(days=1))
    await type_into(page, "#ausreisefrist-reason", "Reisedokumente beantragt")
    await send(page, "button:text('Ausreisefrist verlängern: speichern')")
    field = page.locator("#ausreisefrist-new_deadline")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#ausreisefrist-new_deadline-fehler")).not_to_be_empty()
    await expect(page.locator("#ausreisefrist-reason")).to_have_value("Reisedokumente beantragt")
    await assert_accessible(page, "the case page with a refused extension")

    later = today() + timedelta(days=200)
    await type_date(page, "#ausreisefrist-new_deadline", later)
    await send(page, "button:text('Ausreisefrist verlängern: speichern')")
    await expect(page.locator("main")).to_contain_text("Die Ausreisefrist wurde verlängert")
    await expect(page.locator("dl").first).to_contain_text(f"{later:%d.%m.%Y}")
    await screenshot(page, "fall-aktionen.png", 1100)
    await assert_accessible(page, "the case page after an extension")


async def test_a_consent_is_withdrawn_on_the_page_as_easily_as_it_was_given(
    site: Site, page: Page
) -> None:
    case_id = await referred_on_the_pages(site)
    username = await new_person(site, Role.ABH)

    await log_in(page, username, path=f"/faelle/{case_id}")
    await open_details(page, "Widerruf der Einwilligung erfassen (Art. 7 Abs. 3 DSGVO)")
    await type_date(page, "#widerruf-withdrawn_on", today())
    await send(page, "button:text('Widerruf der Einwilligung erfassen: speichern')")
    await expect(page.locator("main")).to_contain_text("Der Widerruf ist erfasst")
    await expect(page.locator("main")).to_contain_text("widerrufen am")
    await expect(page.locator("summary", has_text="Widerruf der Einwilligung")).to_have_count(0)
    await assert_accessible(page, "the case page after a withdrawal")


async def test_the_ki_reports_a_supporter_with_the_keyboard(site: Site, page: Page) -> None:
    case_id = await referred_on_the_pages(site)
    username = await new_person(site, Role.KI)

    await log_in(page, username, path=f"/faelle/{case_id}")
    await open_details(page, "Unterstützer*in oder Bevollmächtigte*n melden")
    await type_into(page, "#unterstuetzer-name", "Verein Brücke")
    await send(page, "button:text('Unterstützer*in oder Bevollmächtigte*n melden: speichern')")
    await expect(page.locator("#unterstuetzer-contact")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#unterstuetzer-name")).to_have_value("Verein Brücke")
    await assert_accessible(page, "the KI's case page with a refused report")
    await type_into(page, "#unterstuetzer-contact", "0170 7654321")
    await send(page, "button:text('Unterstützer*in oder Bevollmächtigte*n melden: speichern')")
    await expect(page.locator("main")).to_contain_text("Die Meldung ist aufgenommen")


async def test_an_admin_sets_and_lifts_a_legal_hold_with_the_keyboard(
    site: Site, page: Page
) -> None:
    case_id = await site.open_case()
    username = await new_person(site, Role.ADMIN)

    await log_in(page, username, path=f"/admin/zugriffe?case_id={case_id}")
    await type_into(page, "#reason", "Klageverfahren VG Gelsenkirchen")
    await send(page, "button:text('Sperre setzen oder aufheben')")
    await expect(page.locator("main")).to_contain_text("Die Löschsperre ist gesetzt")
    held = await site.pool.fetchval("SELECT legal_hold FROM cases WHERE case_id = $1", case_id)
    assert held
    await assert_accessible(page, "the admin's access page with a hold")

    await send(page, "button:text('Sperre setzen oder aufheben')")
    await expect(page.locator("main")).to_contain_text("Die Löschsperre ist aufgehoben")
    held = await site.pool.fetchval("SELECT legal_hold FROM cases WHERE case_id = $1", case_id)
    assert not held
