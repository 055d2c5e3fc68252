"""The web inbox (Posteingang) against a real Temporal dev server, a worker and PostgreSQL.

Each test logs people in through the login form and uses the pages as they would: the inbox
views, the task forms (refusals shown next to the field), the case pages per role, the
assignment history and the access log.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from schemas.accounts import Role
from schemas.case import ConsentWithdrawal
from schemas.events import years_after
from schemas.local_time import BERLIN
from schemas.tasks import TaskKind
from store import erasure
from tests.casekit import HELD_FORM
from tests.sitekit import PASSWORD, Site, today
from tests.test_documents import pdf_text
from web import forms, labels


def field_block(html: str, name: str) -> str:
    """The HTML of one form field (its ``div.field``)."""
    blocks = html.split('<div class="field')
    found = [block for block in blocks if f'name="{name}"' in block]
    assert found, name
    return found[0]


async def complete_conversation(
    abh: httpx.AsyncClient, task_id: str, held_on: date, **held: Any
) -> Any:
    return await abh.post(
        f"/aufgaben/{task_id}",
        data={
            "held_on": held_on.isoformat(),
            "routes_discussed": ["§25b AufenthG", "§60d AufenthG"],
            "perspective": "none_evident",
            "route_pursued": "",
            "missing_prerequisites": ["§25b AufenthG|livelihood", "§60d AufenthG|employment"],
            **HELD_FORM,
            **held,
        },
    )


# ------------------------------------------------------------------ login


async def test_without_login_every_page_redirects_to_the_login(site: Site) -> None:
    async with site.client() as anonymous:
        for path in ("/", "/posteingang", "/faelle/X-1", "/admin/konten"):
            response = await anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/login?next={path}"
        page = await anonymous.get("/login?next=/posteingang")
        assert page.status_code == 200
        assert '<html lang="de">' in page.text
        assert 'href="#inhalt"' in page.text
        assert '<label for="username">' in page.text and '<label for="password">' in page.text
        assert 'name="next" value="/posteingang"' in page.text
        # Only paths of this site are followed after the login.
        assert 'value="/"' in (await anonymous.get("/login?next=//evil.example")).text
        # A link with a query (a search, say) comes back with it after the login.
        searched = await anonymous.get("/faelle?q=m%C3%BCller&town=Unna")
        assert (
            searched.headers["location"]
            == "/login?next=/faelle%3Fq%3Dm%25C3%25BCller%26town%3DUnna"
        )
        login = await anonymous.get(searched.headers["location"])
        assert 'name="next" value="/faelle?q=m%C3%BCller&amp;town=Unna"' in login.text


async def test_a_wrong_password_is_refused_in_german(site: Site) -> None:
    await site.accounts.create_account("sb-falsch", "Sachbearbeitung", Role.ABH, PASSWORD)
    async with site.client() as client:
        response = await client.post(
            "/login", data={"username": "sb-falsch", "password": "falsch", "next": "/"}
        )
        assert response.status_code == 401
        assert "Benutzername oder Passwort ist falsch." in response.text
        assert 'value="sb-falsch"' in response.text
        assert "sitzung" not in response.cookies


async def test_login_follows_next_and_logout_ends_the_session(site: Site) -> None:
    abh = await site.person(Role.ABH)
    async with abh:
        assert (await abh.get("/")).headers["location"] == "/posteingang"
        response = await abh.post("/logout")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        abh.cookies.clear()
        assert (await abh.get("/posteingang")).status_code == 303


# ------------------------------------------------------- the ABH's way


async def test_the_abh_completes_conversation_and_consent_through_the_forms(site: Site) -> None:
    case_id = await site.open_case()
    abh = await site.person(Role.ABH)
    async with abh:
        inbox = await abh.get("/posteingang?ansicht=gruppe")
        assert inbox.status_code == 200
        assert case_id in inbox.text and "Informationsgespräch" in inbox.text
        assert re.search(r"Offen in meiner Gruppe <span class=\"count\">\(\d+\)</span>", inbox.text)
        # Each row says whom it is about: name, town, departure deadline; nothing more.
        row = inbox_row(inbox.text, case_id)
        assert "Testnachname, Testvorname" in row and "Unna" in row
        assert f"{today() + timedelta(days=90):%d.%m.%Y}" in row
        assert "Bahnhofstraße" not in inbox.text and "1990" not in inbox.text

        task_id = await site.task_id(case_id, "information_conversation")
        form = await abh.get(f"/aufgaben/{task_id}")
        assert form.status_code == 200
        assert "Datum des Gesprächs" in form.text and 'type="date"' in form.text
        # Only Bleiberechtsregelungen in force today are offered (§104c ended with 2025).
        assert 'value="§25b AufenthG"' in form.text and "§104c" not in form.text

        # The workflow refuses a date in the future; the page says so next to the field.
        refused = await complete_conversation(abh, task_id, today() + timedelta(days=3))
        assert refused.status_code == 422
        held_on = field_block(refused.text, "held_on")
        assert "Das Datum darf nicht in der Zukunft liegen." in held_on
        assert 'aria-describedby="hilfe-held_on fehler-held_on"' in held_on
        assert 'id="fehler-held_on"' in held_on
        routes = field_block(refused.text, "routes_discussed")
        assert routes.count("checked") == 2  # what was entered is kept
        # ... and one before the case was opened (today).
        early = await complete_conversation(abh, task_id, today() - timedelta(days=1))
        assert early.status_code == 422
        assert "Das Datum darf nicht vor der Eröffnung des Falls liegen." in field_block(
            early.text, "held_on"
        )

        done = await complete_conversation(abh, task_id, today())
        assert done.status_code == 303
        assert done.headers["location"] == f"/faelle/{case_id}?meldung=erledigt"
        case = await abh.get(done.headers["location"])
        assert case.status_code == 200
        assert labels.MESSAGES["erledigt"] in case.text
        assert "Vermittlungsangebot" in case.text
        assert "Testvorname Testnachname" in case.text and "Bahnhofstraße 1" in case.text

        # The documents for the person: listed with languages and version, printable as PDF.
        listed = case.text.split("<caption>Schriftstücke")[1].split("</table>")[0]
        assert "Gesprächsprotokoll" in listed and "Ausreiseinformationsschreiben" in listed
        assert "Einwilligung und Schweigepflichtentbindung" in listed  # ready for signature
        assert "Deutsch, Arabisch" in listed and "Übersetzung ungeprüft" in listed
        links = re.findall(r'href="(/faelle/[^"]+/schriftstuecke/[^"]+)"', listed)
        record = await abh.get(links[0])
        assert record.status_code == 200 and record.content.startswith(b"%PDF")
        assert record.headers["cache-control"] == "no-store"
        assert record.headers["content-disposition"] == (
            f'inline; filename="Gespraechsprotokoll-{case_id}-de-ar.pdf"'
        )
        assert "Fehlt noch: Lebensunterhalt" in pdf_text(record.content)
        async with await site.person(Role.KI) as ki:
            assert (await ki.get(links[0])).status_code == 403

        consent_id = await site.task_id(case_id, "referral_consent")
        consent_page = await abh.get(f"/aufgaben/{consent_id}")
        form_link = re.search(r'href="(/faelle/[^"]+/schriftstuecke/[^"]+)"', consent_page.text)
        assert form_link and "Vordruck als PDF öffnen" in consent_page.text
        form_pdf = await abh.get(form_link.group(1))
        assert "Testvorname Testnachname" in pdf_text(form_pdf.content)
        assert "nicht in der Sprache der Person" not in consent_page.text.lower()
        missing = await abh.post(f"/aufgaben/{consent_id}", data={"interested": "ja"})
        assert missing.status_code == 422
        assert "Ohne unterschriebene Einwilligung" in field_block(missing.text, "consent_signed_on")
        signed = await abh.post(
            f"/aufgaben/{consent_id}",
            data={"interested": "ja", "consent_signed_on": today().isoformat()},
        )
        assert signed.status_code == 303, signed.text
        case = await abh.get(f"/faelle/{case_id}")
        assert "Vermittlung durch das KI" in case.text
        assert "Einwilligung" in case.text  # the timeline
        disclosed = case.text.split("<caption>Übermittlungen</caption>")[1].split("</table>")[0]
        assert "Kommunales Integrationszentrum" in disclosed
        assert f"vom {today():%d.%m.%Y}" in disclosed

        # After a withdrawal the page shows whom the ABH asked to erase, and when.
        await site.cases.withdraw_consent(case_id, ConsentWithdrawal(withdrawn_on=today()))
        case = await abh.get(f"/faelle/{case_id}")
        asked = case.text.split("Löschungsersuchen an Empfänger")[1].split("</table>")[0]
        assert "Kommunales Integrationszentrum (KI)" in asked and "Keine." not in asked
        assert "widerrufen am" in case.text

    logged = await site.accounts.access_log(case_id)
    assert {entry.role for entry in logged} == {Role.ABH}
    # Case pages and documents five times; each task page too (it shows who the person is).
    whats = [entry.what for entry in logged]
    assert len(whats) - whats.count("Aufgabe") == 5 and "Aufgabe" in whats


async def test_the_conversation_form_asks_how_it_was_held(site: Site) -> None:
    """Language, interpreter, who took part and how the copy and the letter reached the
    person: refused at the field in German until given, stored with the completion and
    printed in the person's copy."""
    case_id = await site.open_case()
    abh = await site.person(Role.ABH)
    async with abh:
        task_id = await site.task_id(case_id, "information_conversation")
        form = await abh.get(f"/aufgaben/{task_id}")
        for shown in (
            "Gesprächssprache",
            "Dolmetscher/in: Sprache",
            "telefonisch zugeschaltet",
            "per Video zugeschaltet",
            "Teilnehmende (außer der ABH)",
            "Ausfertigung des Protokolls für die Person",
            "Annahme verweigert",
            "Ausreiseinformationsschreiben mit Belehrungen",
        ):
            assert shown in form.text, shown
        assert "Frau" not in field_block(form.text, "participants")  # roles, no names

        refused = await complete_conversation(abh, task_id, today(), language="")
        assert refused.status_code == 422
        language = field_block(refused.text, "language")
        assert "Bitte die Gesprächssprache angeben." in language
        assert 'aria-invalid="true"' in language
        assert 'href="#language"' in refused.text  # the summary leads to the field
        assert "checked" in field_block(refused.text, "participants")  # kept as entered

        other = await complete_conversation(abh, task_id, today(), interpreter_language="fa")
        assert other.status_code == 422
        interpreter = field_block(other.text, "interpreter_language")
        assert "Die Dolmetschung muss in der Gesprächssprache sein." in interpreter
        nobody = await complete_conversation(abh, task_id, today(), participants=["supporter"])
        assert "„Die Person selbst“ ankreuzen" in field_block(nobody.text, "participants")
        assert 'href="#participants-1"' in nobody.text
        unsaid = await complete_conversation(abh, task_id, today(), departure_letter="")
        assert "Mit dem Protokoll wird ein Ausreiseinformationsschreiben erstellt" in field_block(
            unsaid.text, "departure_letter"
        )

        done = await complete_conversation(
            abh,
            task_id,
            today(),
            interpreter_mode="by_phone",
            participants=["person", "family_member"],
            record_copy="refused",
        )
        assert done.status_code == 303, done.text
        case = await abh.get(f"/faelle/{case_id}")
        listed = case.text.split("<caption>Schriftstücke")[1].split("</table>")[0]
        record = await abh.get(
            re.findall(r'href="(/faelle/[^"]+/schriftstuecke/[^"]+)"', listed)[0]
        )
        text = pdf_text(record.content)
        assert "Gesprächssprache: Arabisch" in text
        assert "für Arabisch war telefonisch zugeschaltet." in text
        assert "Sie selbst; Angehörige Ihrer Familie" in text
    stored = await site.pool.fetchval("SELECT completion FROM tasks WHERE task_id = $1", task_id)
    assert stored["interpreter"] == {"language": "ar", "mode": "by_phone"}
    assert stored["participants"] == ["person", "family_member"]
    assert (stored["record_copy"], stored["departure_letter"]) == ("refused", "handed_over")


async def test_the_ki_sees_referrals_only_with_the_three_categories(site: Site) -> None:
    referred = await site.open_case()
    without_consent = await site.open_case()
    abh = await site.person(Role.ABH)
    async with abh:
        task_id = await site.task_id(referred, "information_conversation")
        assert (await complete_conversation(abh, task_id, today())).status_code == 303
        consent = await site.task_id(referred, "referral_consent")
        response = await abh.post(
            f"/aufgaben/{consent}",
            data={"interested": "ja", "consent_signed_on": today().isoformat()},
        )
        assert response.status_code == 303

    ki = await site.person(Role.KI)
    async with ki:
        inbox = await ki.get("/posteingang?ansicht=gruppe")
        assert referred in inbox.text and "Kontakt zu Partner vor Ort (KI)" in inbox.text
        assert without_consent not in inbox.text
        # The name as the KI received it, the town; the departure deadline is not the KI's.
        row = inbox_row(inbox.text, referred)
        assert "Testnachname, Testvorname" in row and "Unna" in row
        assert f"{today() + timedelta(days=90):%d.%m.%Y}" not in row

        case = await ki.get(f"/faelle/{referred}")
        assert case.status_code == 200
        for shown in ("Testnachname", "+49 2303 123456", "Bahnhofstraße 1", "ausreisepflichtig"):
            assert shown in case.text
        for hidden in ("Informationsgespräch", "Verlauf", "Vermittlungsangebot"):
            assert hidden not in case.text

        assert (await ki.get(f"/faelle/{without_consent}")).status_code == 404
        abh_task = await site.task_id(without_consent, "information_conversation")
        assert (await ki.get(f"/aufgaben/{abh_task}")).status_code == 403

        # The KI records the contact with a partner in the person's town.
        ki_task = await site.task_id(referred, "ki_contact")
        form = await ki.get(f"/aufgaben/{ki_task}")
        partner_id = re.search(r'<option value="(\d+)"', form.text)
        assert partner_id
        # Unna's partner speaks de, en, fr, sq: the page says none speaks Arabic.
        assert (
            "Kein Partner in Unna spricht laut Verzeichnis die Sprache der Person (Arabisch)"
            in form.text
        )
        done = await ki.post(
            f"/aufgaben/{ki_task}",
            data={"partner_id": partner_id.group(1), "contacted_on": today().isoformat()},
        )
        assert done.status_code == 303, done.text
    assert [entry.what for entry in await site.accounts.access_log(without_consent)] == []
    opened = await site.accounts.access_log(referred)
    assert [(entry.role, entry.what) for entry in opened] == [
        (Role.KI, "Fallseite KI"),
        (Role.KI, "Aufgabe"),
    ]


def inbox_row(page: str, case_id: str) -> str:
    """The inbox table's row of ``case_id``."""
    rows = [row for row in page.split("<tr>") if f">{case_id}</a>" in row]
    assert len(rows) == 1, rows
    return rows[0].split("</tr>")[0]


async def referred_on_the_pages(site: Site, language: str = "ar") -> str:
    """A new case, its conversation and a signed consent entered by the ABH on the pages:
    the KI's contact task is open."""
    case_id = await site.open_case(language=language)
    async with await site.person(Role.ABH) as abh:
        task_id = await site.task_id(case_id, "information_conversation")
        assert (await complete_conversation(abh, task_id, today())).status_code == 303
        consent = await site.task_id(case_id, "referral_consent")
        signed = await abh.post(
            f"/aufgaben/{consent}",
            data={"interested": "ja", "consent_signed_on": today().isoformat()},
        )
        assert signed.status_code == 303
    return case_id


async def test_the_ki_form_names_the_partners_who_speak_the_persons_language(site: Site) -> None:
    referred = await referred_on_the_pages(site, language="sq")
    ki = await site.person(Role.KI)
    async with ki:
        form = await ki.get(f"/aufgaben/{await site.task_id(referred, 'ki_contact')}")
        assert "Die Sprache der Person (Albanisch) sprechen: Der Paritätische Unna" in form.text
        assert "Kein Partner in Unna spricht" not in form.text


async def test_a_task_page_says_who_the_person_is_and_what_happened_lately(site: Site) -> None:
    day = today()
    eight = day.replace(year=day.year - 8, day=1)
    adult_on = day + timedelta(days=40)
    seventeen = years_after(adult_on, -18)  # 18 in forty days
    case_id = await site.open_case(children=(eight.isoformat(), seventeen.isoformat()))
    abh = await site.person(Role.ABH)
    async with abh:
        page = await abh.get(f"/aufgaben/{await site.task_id(case_id, 'information_conversation')}")
        context = page.text.split('id="kontext"')[1].split("</section>")[0]
        for shown in ("Testvorname Testnachname", "Irak", "Arabisch", "Unna", "ausreisepflichtig"):
            assert shown in context, shown
        assert f"{(day + timedelta(days=90)):%d.%m.%Y}" in context  # the departure deadline
        assert f"geboren {eight:%d.%m.%Y}, heute 8 Jahre" in context
        assert f"heute 17 Jahre; wird 18 am {adult_on:%d.%m.%Y}" in context
        assert "Fall eröffnet" in context and "Aufgabe angelegt – Informationsgespräch" in context
    assert [entry.what for entry in await site.accounts.access_log(case_id)] == ["Aufgabe"]


async def test_the_case_page_does_what_the_api_does(site: Site) -> None:
    case_id = await site.open_case()
    abh = await site.person(Role.ABH)
    async with abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert "Ausreisefrist verlängern" in page.text
        assert "Bleiberechtsweg gescheitert" not in page.text  # no route is pursued
        assert "Widerruf der Einwilligung" not in page.text  # nothing was consented to

        # A deadline in the past is refused at its field, in German, the input kept.
        url = f"/faelle/{case_id}/aktionen/ausreisefrist"
        past = (today() - timedelta(days=1)).isoformat()
        refused = await abh.post(url, data={"new_deadline": past, "reason": "Pass beantragt"})
        assert refused.status_code == 422
        form = refused.text.split('action="' + url + '"')[1].split("</form>")[0]
        assert 'aria-invalid="true"' in form and "Pass beantragt" in form
        assert '<details class="action" open>' in refused.text
        missing = await abh.post(url, data={"new_deadline": past})
        assert missing.status_code == 422

        later = today() + timedelta(days=200)
        done = await abh.post(url, data={"new_deadline": later.isoformat(), "reason": "Pass"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/faelle/{case_id}?meldung=frist_verlaengert"
        shown = await abh.get(done.headers["location"])
        assert f"{later:%d.%m.%Y}" in shown.text and "Ausreisefrist verlängert" in shown.text

        reported = await abh.post(
            f"/faelle/{case_id}/aktionen/unterstuetzer",
            data={"name": "Helga Helferin", "contact": "0170 1234567", "is_representative": "on"},
        )
        assert reported.status_code == 303, reported.text
        page = await abh.get(f"/faelle/{case_id}")
        assert "Helga Helferin" in page.text and "bevollmächtigt" in page.text

        unknown = await abh.post(f"/faelle/{case_id}/aktionen/loeschen", data={})
        assert unknown.status_code == 404
    ki = await site.person(Role.KI)
    async with ki:
        refused = await ki.post(
            f"/faelle/{case_id}/aktionen/ausreisefrist",
            data={"new_deadline": later.isoformat(), "reason": "x"},
        )
        assert refused.status_code == 403


async def test_the_ki_reports_a_supporter_and_the_abh_records_a_withdrawal_on_the_page(
    site: Site,
) -> None:
    case_id = await referred_on_the_pages(site)
    ki = await site.person(Role.KI)
    async with ki:
        page = await ki.get(f"/faelle/{case_id}")
        assert "Unterstützer*in oder Bevollmächtigte*n melden" in page.text
        assert "Ausreisefrist verlängern" not in page.text
        empty = await ki.post(f"/faelle/{case_id}/aktionen/unterstuetzer", data={"name": "X"})
        assert empty.status_code == 422 and '<details class="action" open>' in empty.text
        done = await ki.post(
            f"/faelle/{case_id}/aktionen/unterstuetzer",
            data={"name": "Verein Brücke", "contact": "0170 7654321"},
        )
        assert done.status_code == 303, done.text
    async with await site.person(Role.ABH) as abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert "Verein Brücke" in page.text
        assert "Widerruf der Einwilligung erfassen" in page.text
        withdrawn = await abh.post(
            f"/faelle/{case_id}/aktionen/widerruf", data={"withdrawn_on": today().isoformat()}
        )
        assert withdrawn.status_code == 303, withdrawn.text
        page = await abh.get(withdrawn.headers["location"])
        assert "widerrufen am" in page.text
        assert "Widerruf der Einwilligung erfassen" not in page.text


async def test_an_admin_sets_and_lifts_a_legal_hold_on_the_page(site: Site) -> None:
    case_id = await site.open_case()
    admin = await site.person(Role.ADMIN)
    async with admin:
        page = await admin.get("/admin/zugriffe", params={"case_id": case_id})
        assert "Löschsperre" in page.text
        held = await admin.post(
            "/admin/zugriffe/sperre", data={"case_id": case_id, "reason": "Klage anhängig"}
        )
        assert held.status_code == 303
        assert await site.pool.fetchval("SELECT legal_hold FROM cases WHERE case_id = $1", case_id)
        lifted = await admin.post("/admin/zugriffe/sperre", data={"case_id": case_id})
        assert lifted.status_code == 303
        assert not await site.pool.fetchval(
            "SELECT legal_hold FROM cases WHERE case_id = $1", case_id
        )
        unknown = await admin.post("/admin/zugriffe/sperre", data={"case_id": "GIBT-ES-NICHT"})
        assert unknown.status_code == 404


async def test_a_case_stays_with_its_caseworker_and_a_deputy_can_take_over(site: Site) -> None:
    case_id = await site.open_case()
    first = await site.task_id(case_id, "information_conversation")
    colleague = f"abh-vertretung-{uuid.uuid4().hex[:6]}"
    abh = await site.person(Role.ABH)
    deputy = await site.person(Role.ABH, colleague)
    async with abh, deputy:
        assert (await abh.post(f"/aufgaben/{first}/uebernehmen")).status_code == 303
        assert (await complete_conversation(abh, first, today())).status_code == 303
        # The case's next task is already the same caseworker's.
        consent = await site.task_id(case_id, "referral_consent")
        mine = await abh.get("/posteingang?ansicht=meine")
        assert consent in mine.text
        page = await abh.get(f"/aufgaben/{consent}")
        assert "zugewiesen: bearbeitet die vorige Aufgabe des Falls" in page.text

        # The colleague takes it over as deputy, saying why.
        offered = await deputy.get(f"/aufgaben/{consent}")
        assert "Als Vertretung übernehmen" in offered.text
        no_reason = await deputy.post(f"/aufgaben/{consent}/vertreten", data={"grund": " "})
        assert no_reason.status_code == 422
        taken = await deputy.post(f"/aufgaben/{consent}/vertreten", data={"grund": "Urlaub"})
        assert taken.status_code == 303
        assert taken.headers["location"] == f"/aufgaben/{consent}?meldung=vertreten"
        page = await deputy.get(f"/aufgaben/{consent}")
        assert "als Vertretung übernommen" in page.text and "„Urlaub“" in page.text
        assert "Als Vertretung übernehmen" not in page.text  # it is the deputy's now
    owner = await site.pool.fetchval(
        "SELECT a.username FROM tasks t JOIN accounts a ON a.account_id = t.assigned_to"
        " WHERE t.task_id = $1::uuid",
        consent,
    )
    assert owner == colleague


async def test_a_check_in_says_how_many_were_missed_and_when_the_next_is_due(
    site: Site,
) -> None:
    case_id = await site.open_case()
    now = datetime.now(UTC)
    missed, following = uuid.uuid4(), uuid.uuid4()
    await site.pool.execute(
        "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at,"
        " closed_at, completion) VALUES ($1, $2, 'follow_up', 'abh', 'completed', $3, $4, $3,"
        ' \'{"kind": "follow_up", "reached": false}\'),'
        " ($5, $2, 'follow_up', 'abh', 'open', $6, $3, NULL, NULL)",
        missed,
        case_id,
        now - timedelta(days=1),
        now - timedelta(days=8),
        following,
        now + timedelta(days=6),
    )
    async with await site.person(Role.ABH) as abh:
        page = await abh.get(f"/aufgaben/{following}")
        assert page.status_code == 200
        due = (now + timedelta(days=6)).astimezone(BERLIN)
        expected = f"nicht erreicht (1 von 2); nächster Kontakt fällig am {due:%d.%m.%Y}"
        context = page.text.split('id="kontext"')[1].split("</section>")[0]
        assert expected in " ".join(context.split()), context


async def test_operations_see_numbers_but_no_case(site: Site) -> None:
    case_id = await site.open_case()
    ops = await site.person(Role.OPS)
    async with ops:
        refused = await ops.get(f"/faelle/{case_id}")
        assert refused.status_code == 403
        assert "Keine Berechtigung" in refused.text and "Testnachname" not in refused.text
        assert (await ops.get("/posteingang")).status_code == 403
        health = await ops.get("/betrieb")
        assert health.status_code == 200
        assert "Informationsgespräch" in health.text and "Testnachname" not in health.text
        assert (await ops.get("/admin/konten")).status_code == 403
    assert await site.accounts.access_log(case_id) == []


async def test_operations_see_tasks_per_queue_and_stage_the_oldest_and_the_outbox(
    site: Site,
) -> None:
    case_id = await site.open_case()
    stage = await site.pool.fetchval("SELECT stage FROM cases WHERE case_id = $1", case_id)
    async with await site.person(Role.OPS) as ops:
        before = (await ops.get("/api/v1/operations/figures")).json()
        # Every queue and stage is a row, zeros included (closed cases have no open tasks).
        rows = {(row["queue"], row["stage"]) for row in before["tasks"]}
        assert ("ki", "escalation") in rows and ("abh", "arrival") in rows
        assert len(rows) == len(before["tasks"]) == 2 * 10
        long_ago = datetime(2001, 1, 1, tzinfo=UTC)
        for queue, due, created in (
            ("ki", datetime.now(UTC) - timedelta(hours=1), long_ago),
            ("abh", datetime.now(UTC) + timedelta(days=3), datetime.now(UTC)),
        ):
            await site.pool.execute(
                "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at)"
                " VALUES ($1, $2, 'follow_up', $3, 'open', $4, $5)",
                uuid.uuid4(),
                case_id,
                queue,
                due,
                created,
            )
        for status in ("queued", "failed"):
            await site.pool.execute(
                "INSERT INTO outbox (idempotency_key, recipient, status, next_attempt_at,"
                " created_at) VALUES ($1, 'team@example.org', $2, now(), $3)",
                f"figures-{uuid.uuid4()}",
                status,
                long_ago,
            )
        after = (await ops.get("/api/v1/operations/figures")).json()
        page = await ops.get("/betrieb")
    assert page.status_code == 200

    def count(figures: dict[str, Any], queue: str) -> tuple[int, int]:
        [row] = [r for r in figures["tasks"] if (r["queue"], r["stage"]) == (queue, stage)]
        return row["open"], row["overdue"]

    ki_open, ki_overdue = count(before, "ki")
    assert count(after, "ki") == (ki_open + 1, ki_overdue + 1)
    abh_open, abh_overdue = count(before, "abh")
    assert count(after, "abh") == (abh_open + 1, abh_overdue)
    oldest = {row["queue"]: row for row in after["oldest_open"]}
    assert oldest["ki"]["created_at"].startswith("2001-01-01")
    assert oldest["ki"]["age_hours"] > 24 * 365 * 20
    outbox = after["outbox"]
    assert outbox["queued"] == before["outbox"]["queued"] + 1
    assert outbox["failed"] == before["outbox"]["failed"] + 1
    assert outbox["oldest_queued_at"].startswith("2001-01-01")
    # The page says the same in German, with no case and no person on it.
    assert "Offene Aufgaben je Gruppe und Phase des Falls" in page.text
    assert "Neu zugewandert (ohne Fall)" in page.text and "E-Mail-Ausgang" in page.text
    assert "Tagen" in page.text and case_id not in page.text and "Testnachname" not in page.text
    async with await site.person(Role.ABH) as abh:
        assert (await abh.get("/api/v1/operations/figures")).status_code == 403


# ------------------------------------------------------------ assignment


async def test_claim_release_and_hand_over_are_all_kept(site: Site) -> None:
    case_id = await site.open_case()
    task_id = await site.task_id(case_id, "information_conversation")
    colleague = f"abh-kollegin-{uuid.uuid4().hex[:6]}"
    other = await site.person(Role.ABH, colleague)
    abh = await site.person(Role.ABH)
    async with abh, other:
        back = {"zurueck": "/posteingang?ansicht=meine"}
        claimed = await abh.post(f"/aufgaben/{task_id}/uebernehmen", data=back)
        assert claimed.status_code == 303
        # Claiming a task opens it.
        assert claimed.headers["location"] == f"/aufgaben/{task_id}?meldung=uebernommen"
        opened = await abh.get(claimed.headers["location"])
        assert labels.MESSAGES["uebernommen"] in opened.text
        mine = await abh.get("/posteingang?ansicht=meine")
        assert case_id in mine.text
        assert re.search(r"Meine Aufgaben <span class=\"count\">\(1\)</span>", mine.text)

        # Someone else's task cannot be taken or released.
        assert (await other.post(f"/aufgaben/{task_id}/uebernehmen")).status_code == 409
        assert (await other.post(f"/aufgaben/{task_id}/freigeben")).status_code == 409

        assert (await abh.post(f"/aufgaben/{task_id}/freigeben")).status_code == 303
        assert (await abh.post(f"/aufgaben/{task_id}/uebernehmen")).status_code == 303
        accounts = {a.username: a.account_id for a in await site.accounts.list_accounts()}
        no_comment = await abh.post(
            f"/aufgaben/{task_id}/uebergeben", data={"an": accounts[colleague], "kommentar": " "}
        )
        assert no_comment.status_code == 422
        handed = await abh.post(
            f"/aufgaben/{task_id}/uebergeben",
            data={"an": accounts[colleague], "kommentar": "Termin am Dienstag übernehmen"},
        )
        assert handed.status_code == 303
        theirs = await other.get("/posteingang?ansicht=meine")
        assert case_id in theirs.text
        page = await other.get(f"/aufgaben/{task_id}")
        assert "Termin am Dienstag übernehmen" in page.text

    rows = await site.pool.fetch(
        "SELECT action, to_account, comment FROM task_assignments WHERE task_id = $1 "
        "ORDER BY assignment_id",
        task_id,
    )
    assert [row["action"] for row in rows] == ["claim", "release", "claim", "hand_over"]
    assert rows[-1]["to_account"] == accounts[colleague]
    assert rows[-1]["comment"] == "Termin am Dienstag übernehmen"
    assert (
        await site.pool.fetchval("SELECT assigned_to FROM tasks WHERE task_id = $1", task_id)
        == accounts[colleague]
    )


async def test_a_post_from_another_site_is_refused(site: Site) -> None:
    case_id = await site.open_case()
    task_id = await site.task_id(case_id, "information_conversation")
    abh = await site.person(Role.ABH)
    async with abh:
        response = await abh.post(
            f"/aufgaben/{task_id}/uebernehmen", headers={"Origin": "http://evil.example"}
        )
        assert response.status_code == 403
    assert await site.pool.fetchval("SELECT count(*) FROM task_assignments") == 0


# ------------------------------------------------------------------ admin


async def test_admin_pages_for_accounts_partners_and_the_access_log(site: Site) -> None:
    case_id = await site.open_case()
    admin = await site.person(Role.ADMIN)
    abh = await site.person(Role.ABH)
    async with admin, abh:
        assert (await abh.get("/admin/partner")).status_code == 403
        assert (await abh.get(f"/faelle/{case_id}")).status_code == 200
        assert (await admin.get(f"/faelle/{case_id}")).status_code == 403

        created = await admin.post(
            "/admin/konten",
            data={
                "username": "ki-neu",
                "display_name": "KI Neu",
                "role": "ki",
                "password": PASSWORD,
            },
        )
        assert created.status_code == 303
        short = await admin.post(
            "/admin/konten",
            data={"username": "x", "display_name": "X", "role": "ki", "password": "kurz"},
        )
        assert short.status_code == 422 and "mindestens 12 Zeichen" in short.text
        listing = await admin.get("/admin/konten")
        assert "ki-neu" in listing.text
        new_id = next(
            a.account_id for a in await site.accounts.list_accounts() if a.username == "ki-neu"
        )
        off = await admin.post(f"/admin/konten/{new_id}/aktiv", data={"aktiv": "nein"})
        assert off.status_code == 303
        assert not next(
            a for a in await site.accounts.list_accounts() if a.username == "ki-neu"
        ).active

        name = f"Ehrenamt Test {uuid.uuid4().hex[:6]}"
        draft = {
            "name": name,
            "kind": "ehrenamt",
            "town": "Kamen",
            "contact": "0230 1",
            "languages": "de, ar",
        }
        assert (await admin.post("/admin/partner", data=draft)).status_code == 303
        partners = await admin.get("/admin/partner")
        assert name in partners.text and "de, ar" in partners.text
        bad = await admin.post("/admin/partner", data={**draft, "languages": "Deutsch"})
        assert bad.status_code == 422 and "ISO-639" in bad.text

        log = await admin.get(f"/admin/zugriffe?case_id={case_id}")
        assert log.status_code == 200 and "Fallseite" in log.text


async def test_a_consent_form_not_in_the_persons_language_is_marked_before_signing(
    site: Site,
) -> None:
    """Pashto has no templates yet: the form comes in German and English, and the task page
    says to interpret it before the person signs."""
    case_id = await site.open_case(language="ps")
    abh = await site.person(Role.ABH)
    async with abh:
        task_id = await site.task_id(case_id, "information_conversation")
        assert (await complete_conversation(abh, task_id, today())).status_code == 303
        consent_page = await abh.get(f"/aufgaben/{await site.task_id(case_id, 'referral_consent')}")
        assert "Nicht in der Sprache der Person (Deutsch und Englisch)" in consent_page.text
        case = await abh.get(f"/faelle/{case_id}")
        listed = case.text.split("<caption>Schriftstücke")[1].split("</table>")[0]
        assert "Deutsch, Englisch" in listed and listed.count("<strong>Nicht in der Sprache") == 3


async def test_admins_see_which_texts_are_reviewed(site: Site) -> None:
    admin = await site.person(Role.ADMIN)
    abh = await site.person(Role.ABH)
    async with admin, abh:
        assert (await abh.get("/admin/texte")).status_code == 403
        page = await admin.get("/admin/texte")
        assert page.status_code == 200
        templates = page.text.split("Vorlagen je Schriftstück und Sprache")[1].split("</table>")[0]
        # Four documents in ten languages, none reviewed by a person yet.
        assert templates.count("<tr>") == 1 + 40
        assert templates.count("Entwurf, ungeprüft") == 40
        assert "Farsi/Dari" in templates and templates.count("<code>") == 40
        routes = page.text.split("Fassungen der Regelungen")[1]
        assert "§104c AufenthG" in routes and "31.12.2022 bis 30.12.2025" in routes
        assert "drei Monaten im Besitz einer Duldung" in routes  # §60c since 2020
        assert "01.07.2027" in page.text  # the next change to enter


async def test_admin_page_for_offers_and_flyers(site: Site) -> None:
    admin = await site.person(Role.ADMIN)
    abh = await site.person(Role.ABH)
    async with admin, abh:
        assert (await abh.get("/admin/angebote")).status_code == 403
        page = await admin.get("/admin/angebote")
        assert page.status_code == 200
        assert "Rückkehrberatung (Programme REAG/GARP)" in page.text
        assert "(Beispieleintrag)" in page.text and "kreisweit" in page.text
        link = "/api/v1/flyers/Fr%C3%B6ndenberg/Ruhr?language=ar"
        assert f'href="{link}"' in page.text
        assert page.text.count("noch nicht abgerufen") == 10  # every town, Lünen included

        # A new local offer.
        name = f"Sprachcafé {uuid.uuid4().hex[:6]}"
        draft = {
            "name": name,
            "category": "language_course",
            "town": "Lünen",
            "address": "Stadtbücherei, Markt 2",
            "hours": "Fr 10:00–12:00",
            "contact": "",
            "languages": "de, ar",
        }
        saved = await admin.post("/admin/angebote", data=draft)
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/angebote?meldung=angebot#inhalt"
        page = await admin.get("/admin/angebote?meldung=angebot")
        assert name in page.text and "Die Flyer der betroffenen Orte" in page.text
        offer_id = await site.pool.fetchval("SELECT offer_id FROM offers WHERE name = $1", name)

        # Refusals next to their fields, the entered values kept.
        bad = await admin.post(
            "/admin/angebote", data={**draft, "hours": " ", "languages": "Deutsch"}
        )
        assert bad.status_code == 422
        assert 'aria-describedby="hilfe-hours fehler-hours" aria-invalid="true"' in bad.text
        assert "Bitte ausfüllen." in field_block(bad.text, "hours")
        assert "ISO-639" in field_block(bad.text, "languages")
        assert 'value="Stadtbücherei, Markt 2"' in bad.text
        taken = await admin.post("/admin/angebote", data=draft)
        assert taken.status_code == 422 and "schon" in field_block(taken.text, "name")

        # An admin checks a seed entry: it is no longer an example.
        seed = await site.pool.fetchval(
            "SELECT offer_id FROM offers WHERE category = 'return_counselling' AND example"
        )
        form = await admin.get(f"/admin/angebote?bearbeiten={seed}")
        assert 'value="Beratungsstelle, Vermittlung über das KI"' in form.text
        assert '<option value="" selected>Kreisweit (alle Orte)</option>' in form.text
        changed = await admin.post(
            "/admin/angebote",
            data={
                "offer_id": str(seed),
                "name": "Rückkehrberatung (Programme REAG/GARP)",
                "category": "return_counselling",
                "town": "",
                "address": "Beratungsstelle, Vermittlung über das KI",
                "hours": "Di 9:00–12:00",
                "contact": "",
                "languages": "de, ar",
            },
        )
        assert changed.status_code == 303
        row = await site.pool.fetchrow(
            "SELECT town, hours, example FROM offers WHERE offer_id = $1", seed
        )
        assert row is not None
        assert dict(row) == {"town": None, "hours": "Di 9:00–12:00", "example": False}

        # The flyer link gives the PDF; the table then shows the version as made.
        flyer = await admin.get(link)
        assert flyer.status_code == 200 and flyer.content.startswith(b"%PDF")
        page = await admin.get("/admin/angebote")
        assert page.text.count("noch nicht abgerufen") == 9
        assert "1 gespeicherte Version insgesamt" in page.text

        removed = await admin.post(f"/admin/angebote/{offer_id}/entfernen")
        assert removed.status_code == 303
        assert name not in (await admin.get("/admin/angebote")).text
        assert (await admin.post("/admin/angebote/999999/entfernen")).status_code == 404
        assert (await admin.get("/admin/angebote?bearbeiten=999999")).status_code == 404


async def test_the_partner_page_takes_address_and_hours(site: Site) -> None:
    admin = await site.person(Role.ADMIN)
    async with admin:
        new = await admin.get("/admin/partner")
        assert 'value="nach Vereinbarung"' in field_block(new.text, "hours")
        assert "<option>Lünen</option>" in new.text
        name = f"Flüchtlingshilfe {uuid.uuid4().hex[:6]}"
        draft = {
            "name": name,
            "kind": "ehrenamt",
            "town": "Selm",
            "contact": "02592 1",
            "address": "Kirchstraße 3",
            "hours": "Mo 17:00–19:00",
            "languages": "de",
        }
        assert (await admin.post("/admin/partner", data=draft)).status_code == 303
        listing = await admin.get("/admin/partner")
        assert "Kirchstraße 3" in listing.text and "Mo 17:00–19:00" in listing.text
        unknown = await admin.post("/admin/partner", data={**draft, "town": "Dortmund"})
        assert unknown.status_code == 422
        assert "Diesen Ort gibt es im Kreis Unna nicht." in field_block(unknown.text, "town")


# ------------------------------------------------------------- the forms


def test_every_task_kind_has_a_form_with_exactly_the_model_fields() -> None:
    from typing import get_args

    from schemas import tasks

    union = get_args(tasks.TaskCompletion)[0]  # Annotated[A | B | ..., Field(...)]
    models = {model.model_fields["kind"].default: model for model in get_args(union)}
    assert set(forms.FORMS) == set(models) == {kind.value for kind in TaskKind}
    for kind, specs in forms.FORMS.items():
        # An input that is a part of a field (the interpreter's mode and language) counts once.
        fields = dict.fromkeys(forms.field_of(spec.name) for spec in specs)
        assert list(fields) == [n for n in models[kind].model_fields if n != "kind"]
        assert kind in labels.TASK_KINDS


def test_the_interpreter_is_read_from_its_mode_and_language() -> None:
    from starlette.datastructures import FormData

    def interpreter(**inputs: str) -> object:
        form = FormData([("language", "ar"), *inputs.items()])
        return forms.parse("information_conversation", form).get("interpreter")

    assert interpreter() is None  # none chosen: without an interpreter
    assert interpreter(interpreter_mode="") is None
    assert interpreter(interpreter_mode="by_video") == {"mode": "by_video", "language": "ar"}
    assert interpreter(interpreter_language="fa") == {"language": "fa"}  # the mode is missing
    both = interpreter(interpreter_mode="present", interpreter_language="ku")
    assert both == {"mode": "present", "language": "ku"}
    body = {"kind": "information_conversation", "interpreter": {"language": "fa"}}
    _, errors = forms.validate(body)
    assert errors["interpreter_mode"] == [
        "Bitte angeben, wie gedolmetscht wurde, oder die Sprache leer lassen."
    ]
    assert forms.input_of("interpreter") == "interpreter_language"
    assert forms.field_of("interpreter_mode") == "interpreter"


def test_an_enforcement_time_is_read_in_berlin_and_broken_rules_are_named() -> None:
    from starlette.datastructures import FormData

    body = forms.parse(
        "escalation",
        FormData([("decision", "enforcement"), ("enforcement_at", "2027-01-12T23:30")]),
    )
    assert body["enforcement_at"] == "2027-01-12T23:30:00+01:00"
    assert body["enters_home"] is False
    reason = labels.reason(
        "enforcement_at", "Keine Abschiebung mit Minderjährigen zur Nachtzeit (22:00–06:00) (x)"
    )
    assert reason.startswith("Verstößt gegen die Zeitregel: Keine Abschiebung mit Minderjährigen")
    until = forms.parse(
        "escalation",
        FormData(
            [
                ("decision", "enforcement"),
                ("enforcement_at", "2027-01-12T09:00"),
                ("enforcement_until", "2027-01-12T08:00"),
                ("announced_on", "2026-12-01"),
            ]
        ),
    )
    assert until["announced_on"] == "2026-12-01"
    _, errors = forms.validate(until)
    assert errors == {"enforcement_until": ["Das Ende muss nach dem Beginn der Maßnahme liegen."]}
    notice = labels.reason("announced_on", "Ankündigung mindestens einen Monat vorher (x)")
    assert notice.startswith("Bitte das Datum der Ankündigung angeben, es gilt: Ankündigung")
    _, errors = forms.validate(forms.parse("escalation", FormData([("decision", "enforcement")])))
    assert errors == {
        "enforcement_at": [
            "Bitte angeben bei der Entscheidung „Vollstreckung (Abschiebung) planen“."
        ]
    }


async def test_overdue_and_due_this_week_views_with_counts(site: Site) -> None:
    late = await site.open_case()
    soon = await site.open_case()
    await site.pool.execute(
        "UPDATE tasks SET due_at = now() - interval '1 day' WHERE case_id = $1", late
    )
    # Today 23:59 Berlin at the latest is still this week, whatever the weekday.
    await site.pool.execute(
        "UPDATE tasks SET due_at = (date_trunc('day', now() AT TIME ZONE 'Europe/Berlin') "
        "+ interval '23 hours 59 minutes') AT TIME ZONE 'Europe/Berlin' "
        "WHERE case_id = $1",
        soon,
    )
    abh = await site.person(Role.ABH)
    async with abh:
        overdue = await abh.get("/posteingang?ansicht=ueberfaellig")
        assert late in overdue.text and soon not in overdue.text
        assert re.search(r"Überfällig <span class=\"count\">\(1\)</span>", overdue.text)
        week = await abh.get("/posteingang?ansicht=woche")
        assert soon in week.text and late not in week.text
        assert re.search(r"Diese Woche fällig <span class=\"count\">\(1\)</span>", week.text)
        assert 'aria-current="page">Diese Woche fällig' in week.text


async def test_notes_are_written_on_the_page_and_the_api_and_erased_with_the_case(
    site: Site,
) -> None:
    case_id = await site.open_case()
    async with await site.person(Role.ABH) as abh:
        empty = await abh.post(f"/faelle/{case_id}/aktionen/notiz", data={"text": "  "})
        assert empty.status_code == 422
        written = await abh.post(
            f"/faelle/{case_id}/aktionen/notiz",
            data={"text": "Termin bei der Botschaft am 12.01.\nPass beantragt."},
        )
        assert written.status_code == 303, written.text
        page = await abh.get(f"/faelle/{case_id}")
        assert "Termin bei der Botschaft am 12.01.\nPass beantragt." in page.text
        api = await abh.post(f"/api/v1/cases/{case_id}/notes", json={"text": "Per API"})
        assert api.status_code == 201, api.text
        listed = (await abh.get(f"/api/v1/cases/{case_id}/notes")).json()
        assert [note["text"] for note in listed] == [
            "Per API",
            "Termin bei der Botschaft am 12.01.\nPass beantragt.",
        ]
        too_long = await abh.post(f"/api/v1/cases/{case_id}/notes", json={"text": "x" * 2001})
        assert too_long.status_code == 422
        unknown = await abh.post("/api/v1/cases/GIBT-ES-NICHT/notes", json={"text": "x"})
        assert unknown.status_code == 404
    async with await site.person(Role.KI) as ki:
        assert (await ki.get(f"/api/v1/cases/{case_id}/notes")).status_code == 403
    async with site.pool.acquire() as con:
        removed = await erasure.remove_personal_rows(con, case_id)
    assert removed["case_notes"] == 2
