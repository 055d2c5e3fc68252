"""The web inbox in a real browser: Debian's headless Chromium, driven by Playwright.

The site runs under uvicorn on a loopback port, with a worker on the dev server and a fresh
database (:mod:`tests.sitekit`). People use it as they would: the login form, the keyboard,
links and buttons. axe-core (from the npm registry, injected into the page) checks the inbox,
a task form and the case page, at desktop width and at 320 px, for WCAG 2.1 AA violations.

``python3 manage.py test`` installs Chromium and axe-core when they are missing. Set
``CASE_SCREENSHOTS=docs`` to have the inbox test save the README's screenshots there.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import Browser, Page, expect
from playwright.async_api import Route as Route_
from playwright.async_api import TimeoutError as PlaywrightTimeout

from api.security import POLICY, SecurityHeadersMiddleware
from schemas.accounts import Role
from schemas.case import Stage
from schemas.routes import Route
from schemas.tasks import InformationConversation, Perspective, ReferralConsent
from tests.browserkit import (
    assert_accessible,
    log_in,
    new_person,
    screenshot,
    serving_on_loopback,
    tab_to,
    type_date,
    type_into,
    watch_csp,
)
from tests.casekit import HELD
from tests.sitekit import PASSWORD, Site, today
from tests.test_attachments import pdf, png
from web import labels

# ------------------------------------------------------------------ tests


async def test_abh_completes_conversation_and_consent_with_the_keyboard(
    site: Site, page: Page
) -> None:
    case_id = await site.open_case()
    await site.open_case()  # a second one, so the inbox shows more than one row
    username = await new_person(site, Role.ABH)

    await log_in(page, username)
    await expect(page).to_have_url(re.compile(r"/posteingang$"))
    await tab_to(page, "a[href='/posteingang?ansicht=gruppe']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Offen in meiner Gruppe: 2")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=case_id)
    await expect(row).to_contain_text("Informationsgespräch")
    await expect(row.get_by_role("cell", name="Testnachname, Testvorname")).to_be_visible()
    await expect(row).to_contain_text("Unna")
    await assert_accessible(page, "the inbox")
    # At 320 px each task is a block of its own, and still a table row for screen readers.
    await page.set_viewport_size({"width": 320, "height": 800})
    await expect(row.get_by_role("cell", name="Aufgabe: Informationsgespräch")).to_be_visible()
    await expect(page.get_by_role("columnheader", name="Fällig")).to_have_count(1)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "posteingang.png", 1100)
    await screenshot(page, "posteingang-320px.png", 320)

    # Open the task from the inbox, then try a date in the future: the workflow refuses it and
    # the page says why next to the field, keeping what was entered.
    task_id = await site.task_id(case_id, "information_conversation")
    await tab_to(page, f"a[href='/aufgaben/{task_id}']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Informationsgespräch")).to_be_visible()
    await assert_accessible(page, "the conversation form")
    future = today() + timedelta(days=3)
    await type_date(page, "#held_on", future)
    await tab_to(page, "#routes_discussed-1")
    await page.keyboard.press("Space")
    await tab_to(page, "#perspective-1")  # the radio group: arrows pick the option
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowUp")
    await tab_to(page, "button:text('Erledigt – speichern')")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie Ihre Angaben")
    error = page.locator("#fehler-held_on")
    await expect(error).to_have_text("Das Datum darf nicht in der Zukunft liegen.")
    await expect(page.locator("#held_on")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#routes_discussed-1")).to_be_checked()
    # How it was held is asked of every record: the language first.
    language = "Bitte die Gesprächssprache angeben."
    await expect(page.locator("#fehler-language")).to_have_text(language)
    await expect(page.locator("#language")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, "the form with a refusal")

    await page.locator("#held_on").fill(today().isoformat())
    await tab_to(page, "#language")
    await page.locator("#language").select_option("ar")
    await tab_to(page, "#interpreter_mode")
    await page.locator("#interpreter_mode").select_option("by_phone")
    for first in ("#participants-1", "#record_copy-1", "#departure_letter-1"):
        await tab_to(page, first)
        await page.keyboard.press("Space")
    await tab_to(page, "button:text('Erledigt – speichern')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["erledigt"])
    await expect(page).to_have_url(re.compile(rf"/faelle/{case_id}\?meldung=erledigt$"))
    await expect(page.locator("main")).to_contain_text("Testvorname Testnachname")
    await assert_accessible(page, "the case page")
    # A form of the case page, by keyboard: refused, it opens again with its error.
    await tab_to(page, "summary:text('Ausreisefrist verlängern')")
    await page.keyboard.press("Enter")
    await tab_to(page, "button:text('Ausreisefrist verlängern: speichern')")
    await page.keyboard.press("Enter")
    await expect(page.locator("details.action[open] .error").first).to_be_visible()
    await assert_accessible(page, "the case page with a refused form")

    # Finding the case again: the case list, searched by keyboard.
    await page.goto("/faelle")
    await tab_to(page, "#q")
    await page.keyboard.type("testnach")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("link", name=case_id)).to_be_visible()
    await assert_accessible(page, "the case list")

    # The consent: interested, signed today.
    consent_id = await site.task_id(case_id, "referral_consent")
    await page.goto(f"/aufgaben/{consent_id}")
    await tab_to(page, "#interested-1")
    await page.keyboard.press("Space")
    await type_date(page, "#consent_signed_on", today())
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["erledigt"])
    await expect(page.locator("main")).to_contain_text("Vermittlung durch das KI")
    assert await site.task_id(case_id, "ki_contact")


async def test_ki_sees_the_referral_and_picks_a_partner(site: Site, page: Page) -> None:
    case_id = await site.open_case()
    conversation = await site.task_id(case_id, "information_conversation")
    await site.cases.complete_task(
        conversation,
        InformationConversation(
            held_on=today(),
            routes_discussed=[Route.P25B],
            perspective=Perspective.NONE_EVIDENT,
            **HELD,
        ),
    )
    consent = await site.task_id(case_id, "referral_consent")
    await site.cases.complete_task(
        consent, ReferralConsent(interested=True, consent_signed_on=today())
    )
    ki_task = await site.task_id(case_id, "ki_contact")

    await log_in(page, await new_person(site, Role.KI))
    await page.get_by_role("link", name="Offen in meiner Gruppe").click()
    row = page.get_by_role("row").filter(has_text=case_id)
    await expect(row).to_contain_text("Kontakt zu Partner vor Ort (KI)")
    await row.get_by_role("link", name=case_id).click()
    main = page.locator("main")
    for shown in ("Testnachname", "+49 2303 123456", "Bahnhofstraße 1"):
        await expect(main).to_contain_text(shown)
    for hidden in ("Informationsgespräch", "Vermittlungsangebot"):
        await expect(main).not_to_contain_text(hidden)
    await assert_accessible(page, "the KI's case page")

    await page.goto(f"/aufgaben/{ki_task}")
    await page.get_by_label("Erreicht: die Person nimmt die Begleitung an").check()
    partner = page.get_by_label("Partner im Wohnort, der die Person begleitet")
    options = await partner.locator("option").all_inner_texts()
    assert any("Sprachen:" in option for option in options[1:]), options
    await partner.select_option(index=1)
    await page.get_by_label("Kontaktiert am").fill(today().isoformat())
    await page.get_by_role("button", name="Erledigt – speichern").click()
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["erledigt"])
    assert (await site.cases.case_view(case_id)).stage == Stage.FOLLOW_UP


async def test_operations_are_refused_the_case_page(site: Site, page: Page) -> None:
    case_id = await site.open_case()
    await log_in(page, await new_person(site, Role.OPS))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Betrieb")
    response = await page.goto(f"/faelle/{case_id}")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Keine Berechtigung")
    await expect(page.locator("main")).to_contain_text("Ihre Rolle darf keine Fälle")
    await expect(page.locator("body")).not_to_contain_text("Testnachname")
    assert await site.accounts.access_log(case_id) == []


async def test_a_wrong_password_says_so_and_keeps_the_name(site: Site, page: Page) -> None:
    username = await new_person(site, Role.ABH)
    await log_in(page, username, password="falsches-passwort")
    await expect(page.get_by_role("alert")).to_have_text("Benutzername oder Passwort ist falsch.")
    await expect(page.locator("#username")).to_have_value(username)
    await expect(page.locator("#password")).to_have_value("")
    await expect(page.locator("#password")).to_have_attribute("aria-describedby", "login-fehler")
    assert not await page.context.cookies()
    await assert_accessible(page, "the login page with an error")

    await type_into(page, "#password", PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Posteingang")).to_be_visible()


async def test_an_expired_session_asks_to_log_in_again_and_returns(site: Site, page: Page) -> None:
    case_id = await site.open_case()
    await log_in(page, await new_person(site, Role.ABH))
    await page.get_by_role("link", name="Offen in meiner Gruppe").click()
    # The person leaves the desk; the idle timeout passes.
    timeout = site.app.state.settings.session_idle_timeout
    await site.pool.execute(
        "UPDATE sessions SET last_seen = now() - $1::interval", timeout + timedelta(minutes=1)
    )
    await page.get_by_role("row").filter(has_text=case_id).get_by_role("link", name=case_id).click()
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Ihre Sitzung ist abgelaufen.")
    assert not [c for c in await page.context.cookies() if c["name"] == "sitzung"]

    await type_into(page, "#username", (await site.accounts.list_accounts())[-1].username)
    await type_into(page, "#password", PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(f"/faelle/{case_id}$"))
    await expect(page.locator("main")).to_contain_text("Testnachname")


async def test_the_admin_keeps_the_offer_directory_and_fetches_a_flyer(
    site: Site, page: Page
) -> None:
    await log_in(page, await new_person(site, Role.ADMIN))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Konten")
    await tab_to(page, "a[href='/admin/angebote']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Angebotsverzeichnis und Flyer")
    await assert_accessible(page, "the offer directory")

    # A new offer with the keyboard alone (the page's own links lead past the flyer table);
    # the missing hours are refused next to the field.
    await tab_to(page, "nav[aria-label='Auf dieser Seite'] a[href='#eintrag']")
    await page.keyboard.press("Enter")
    await type_into(page, "#name", "Sprachcafé Lünen")
    await tab_to(page, "#category")
    await page.locator("#category").select_option("language_course")
    await tab_to(page, "#town")
    await page.locator("#town").select_option("Lünen")
    await type_into(page, "#address", "Stadtbücherei, Markt 2")
    await tab_to(page, "button:text('Speichern')")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie Ihre Angaben")
    await expect(page.locator("#fehler-hours")).to_have_text("Bitte ausfüllen.")
    await expect(page.locator("#hours")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#address")).to_have_value("Stadtbücherei, Markt 2")
    await assert_accessible(page, "the offer form with a refusal")
    await type_into(page, "#hours", "Fr 10:00–12:00")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["angebot"])
    await expect(page.get_by_role("row").filter(has_text="Sprachcafé Lünen")).to_contain_text(
        "Fr 10:00–12:00"
    )

    # The flyer of Lünen in Arabic, from its link (named for screen readers).
    link = page.get_by_role("link", name="Flyer Lünen, Arabisch")
    response = await page.request.get(str(await link.get_attribute("href")))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    await page.reload()
    lünen = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Lünen"))
    await expect(lünen).to_contain_text("(ar)")

    await page.goto("/admin/partner")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Partnerverzeichnis")
    await assert_accessible(page, "the partner directory")

    await page.goto("/admin/texte")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Texte und Übersetzungen")
    await assert_accessible(page, "the texts and their review status")


async def test_a_person_changes_their_password_with_the_keyboard(site: Site, page: Page) -> None:
    username = await new_person(site, Role.KI)
    await log_in(page, username)
    await tab_to(page, "nav a[href='/konto/passwort']")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Passwort ändern")
    await assert_accessible(page, "the password page")

    new = "ein neuer Satz als Passwort"
    await type_into(page, "#current_password", PASSWORD)
    await type_into(page, "#new_password", new)
    await type_into(page, "#new_password_repeated", new + "!")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await expect(page.get_by_role("alert")).to_contain_text("Bitte prüfen Sie Ihre Angaben")
    repeated = page.locator("#new_password_repeated")
    await expect(page.locator("#fehler-new_password_repeated")).to_contain_text("Wiederholung")
    await expect(repeated).to_have_attribute("aria-invalid", "true")
    await expect(repeated).to_have_attribute(
        "aria-describedby", "hilfe-new_password_repeated fehler-new_password_repeated"
    )
    await expect(page.locator("#current_password")).to_have_value("")  # nothing sent back
    await assert_accessible(page, "the password page with a refusal")

    await type_into(page, "#current_password", PASSWORD)
    await type_into(page, "#new_password", new)
    await type_into(page, "#new_password_repeated", new)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["passwort"])
    await tab_to(page, "button:text('Abmelden')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()

    # An admin resets it: the next login leads to the password page and nowhere else.
    account = next(a for a in await site.accounts.list_accounts() if a.username == username)
    _, one_time = await site.accounts.reset_password(account.account_id)
    await log_in(page, username, password=one_time, path="/posteingang")
    await expect(page).to_have_url(re.compile(r"/konto/passwort\?next=/posteingang$"))
    await expect(page.get_by_role("status")).to_contain_text("zurückgesetzt")
    await assert_accessible(page, "the password page after a reset")
    await page.goto("/faelle")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Passwort ändern")
    await type_into(page, "#current_password", one_time)
    await type_into(page, "#new_password", new + " zwei")
    await type_into(page, "#new_password_repeated", new + " zwei")
    await page.keyboard.press("Enter")
    # On to the page last asked for.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Fälle")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["passwort"])


# --------------------------------------------------------- content security policy


async def styled_under_the_policy(page: Page, path: str, status: int = 200) -> None:
    """Open ``path``: its answer carries the pages' policy and the stylesheet took effect."""
    response = await page.goto(path)
    assert response is not None and response.status == status, path
    assert await response.header_value("content-security-policy") == POLICY, path
    margin = await page.evaluate("() => getComputedStyle(document.body).margin")
    assert margin == "0px", f"{path}: style.css not applied"


async def test_every_page_works_under_the_csp(site: Site, page: Page) -> None:
    """Every page of every role, under the policy: the ``page`` fixture fails on a violation."""
    case_id = await site.open_case()
    conversation = await site.task_id(case_id, "information_conversation")
    await site.cases.complete_task(
        conversation,
        InformationConversation(
            held_on=today(),
            routes_discussed=[Route.P25B],
            perspective=Perspective.NONE_EVIDENT,
            **HELD,
        ),
    )
    consent = await site.task_id(case_id, "referral_consent")
    await styled_under_the_policy(page, "/login")

    await log_in(page, await new_person(site, Role.ABH))
    await expect(page).to_have_url(re.compile(r"/posteingang$"))
    for view in ("meine", "gruppe", "ueberfaellig", "woche"):
        await styled_under_the_policy(page, f"/posteingang?ansicht={view}")
    await styled_under_the_policy(page, f"/aufgaben/{consent}")
    await page.get_by_role("button", name="Übernehmen").first.click()  # a form of the page
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["uebernommen"])
    await styled_under_the_policy(page, f"/faelle/{case_id}")
    await styled_under_the_policy(page, "/faelle/UNBEKANNT-1", status=404)
    await page.get_by_role("button", name="Abmelden").click()
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()

    await log_in(page, await new_person(site, Role.ADMIN))
    await expect(page).to_have_url(re.compile(r"/admin/konten$"))
    for path in (
        "/admin/konten",
        "/admin/partner",
        "/admin/angebote",
        "/admin/texte",
        "/admin/webhooks",
    ):
        await styled_under_the_policy(page, path)
    await styled_under_the_policy(page, f"/admin/zugriffe?case_id={case_id}")
    await styled_under_the_policy(page, "/betrieb")
    await assert_accessible(page, "the operations page")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await styled_under_the_policy(page, "/konto/passwort")
    await styled_under_the_policy(page, "/posteingang", status=403)


async def test_an_inline_script_or_style_is_refused_and_caught(browser: Browser) -> None:
    """The policy refuses what a template must never contain, and the watch reports it: the
    proof that the other browser tests would fail if a page needed any of it."""
    app = FastAPI()

    @app.get("/")
    async def inline() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="de"><head><title>t</title>'
            "<style>body { color: red }</style></head>"
            '<body><p style="color: blue">x</p>'
            "<script>document.title = 'ran'</script></body></html>"
        )

    wrapped = SecurityHeadersMiddleware(app)
    async with serving_on_loopback(wrapped) as url:  # type: ignore[arg-type]
        context = await browser.new_context()
        violations = await watch_csp(context)
        checked = await context.new_page()
        await checked.goto(url)
        assert await checked.title() == "t"  # the script did not run
        await checked.wait_for_timeout(200)  # events are delivered after the load
        await context.close()
    blocked = " ".join(violations)
    assert "script-src" in blocked and "style-src" in blocked, violations


async def test_swagger_ui_runs_under_its_own_policy_without_the_internet(
    browser: Browser, base_url: str
) -> None:
    """/docs with every request to another host refused: Swagger UI comes from the app itself,
    its inline start script runs under the page's policy, and it shows the API."""
    context = await browser.new_context(base_url=base_url)
    violations = await watch_csp(context)
    elsewhere: list[str] = []

    async def refuse(route: Route_) -> None:
        elsewhere.append(route.request.url)
        await route.abort()

    await context.route(lambda url: not url.startswith(base_url), refuse)
    docs = await context.new_page()
    await docs.goto("/docs")
    await expect(docs.get_by_role("heading", name=re.compile("Ausreisefälle"))).to_be_visible()
    await expect(docs.get_by_text("/api/v1/status-events").first).to_be_visible()
    await context.close()
    assert not violations, violations
    assert not elsewhere, elsewhere


async def test_abh_attaches_a_paper_with_the_keyboard(
    site: Site, page: Page, tmp_path: Path
) -> None:
    case_id = await site.open_case()
    username = await new_person(site, Role.ABH)
    renamed = tmp_path / "bescheinigung.pdf"
    renamed.write_bytes(png())  # a PNG under a PDF's name
    scan = tmp_path / "bescheinigung-scan.pdf"
    scan.write_bytes(pdf("Grenzuebertritt"))
    await log_in(page, username, path=f"/faelle/{case_id}")
    await expect(page.get_by_role("heading", name="Anlagen")).to_be_visible()

    async def choose(file: Path) -> None:
        """The file input by keyboard: Tab to it, Space opens the chooser.

        On the loaded machine (beside other browser tests) Chromium now and then drops the
        Space that should open the chooser after the page came back from a refusal: no
        event, however long one waits (20 s seen). A lost key is not a late one, so it is
        pressed again, at most three times in the same 20 s."""
        field = page.locator("#anlage-file")
        for attempt in range(3):
            if not await field.evaluate("element => element === document.activeElement"):
                await tab_to(page, "#anlage-file")
            try:
                async with page.expect_file_chooser(timeout=7_000) as chooser:
                    await page.keyboard.press("Space")
                await (await chooser.value).set_files(file)
                return
            except PlaywrightTimeout:
                if attempt == 2:
                    raise

    await tab_to(page, "summary:text('Anlage hinzufügen')")
    await page.keyboard.press("Enter")
    await tab_to(page, "#anlage-kind")
    await page.keyboard.type("Grenz")  # a select picks the option its text starts with
    await expect(page.locator("#anlage-kind")).to_have_value("border_crossing")
    await type_into(page, "#anlage-description", "Ausreise über Düsseldorf")
    await choose(renamed)
    await tab_to(page, "button:text('Anlage hochladen')")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    error = page.locator("#anlage-file-fehler")
    await expect(error).to_contain_text("Die Datei ist nach ihrem Inhalt PNG")
    await expect(page.locator("#anlage-file")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#anlage-kind")).to_have_value("border_crossing")
    await expect(page.locator("#anlage-description")).to_have_value("Ausreise über Düsseldorf")
    await assert_accessible(page, "the case page with a refused attachment")

    await choose(scan)
    await tab_to(page, "button:text('Anlage hochladen')")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(labels.MESSAGES["anlage_gespeichert"])
    row = page.get_by_role("row").filter(has_text="Ausreise über Düsseldorf")
    await expect(row).to_contain_text("Grenzübertrittsbescheinigung")
    await expect(row).to_contain_text("PDF")
    await assert_accessible(page, "the case page with an attachment")
    # The download, by keyboard too: the file as it was, under a name of what it is.
    link = row.get_by_role("link")
    await tab_to(page, f"a[href='{await link.get_attribute('href')}']")
    async with page.expect_download() as downloading:
        await page.keyboard.press("Enter")
    download = await downloading.value
    assert download.suggested_filename.startswith(f"Grenzuebertrittsbescheinigung-{case_id}-")
    saved = tmp_path / "heruntergeladen.pdf"
    await download.save_as(saved)
    assert saved.read_bytes() == scan.read_bytes()
