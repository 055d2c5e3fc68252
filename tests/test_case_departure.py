"""What only the back office could do, on the ABH's case page and through its API (issue 14,
point 3): "Ausreise erfassen" (how the person left and the proof) and "Fall wieder eröffnen"
(a new obligation to leave for a closed case). Both go the way of the back office's status
events, name the caseworker in the audit log and record a double submit once.

Against the Temporal dev server, a worker and a fresh PostgreSQL (``tests.sitekit``).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from protection.codec import CaseCodec
from protection.erasure import erase_case
from schemas.accounts import Role
from schemas.events import StatusEvent
from tests.sitekit import Site, today
from workflows.case import workflow_id


def form_of(html: str, name: str) -> str:
    """The HTML of one form of the case page (``name``: its action's last part)."""
    return html.split(f'/aktionen/{name}"')[1].split("</form>")[0]


def errors_at(html: str, field_id: str) -> list[str]:
    found = re.search(rf'<ul class="error" id="{field_id}-fehler">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


async def wait_for_stage(site: Site, case_id: str, stage: str) -> None:
    for _ in range(100):
        if await site.pool.fetchval("SELECT stage FROM cases WHERE case_id = $1", case_id) == stage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} never reached {stage}")


async def closed_case(site: Site, env: WorkflowEnvironment, children: tuple[str, ...] = ()) -> str:
    """A case the back office reported as departed, its run ended."""
    case_id = await site.open_case(children=children)
    await site.cases.submit_event(
        StatusEvent.model_validate(
            {
                "event_id": f"{case_id}-weg",
                "case_id": case_id,
                "status": "ausgereist",
                "effective_date": today().isoformat(),
            }
        )
    )
    await run_ended(env, case_id)
    return case_id


async def run_ended(env: WorkflowEnvironment, case_id: str) -> None:
    handle = env.client.get_workflow_handle(workflow_id(case_id))
    for _ in range(100):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run of {case_id} did not end")


async def audit_entries(site: Site, action: str, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await site.pool.fetch(
        "SELECT actor, detail FROM audit_log WHERE action = $1 AND case_id = $2 ORDER BY seq",
        action,
        case_id,
    )
    return [(row["actor"], row["detail"]) for row in rows]


PROVED = {
    "kind": "return_programme",
    "programme": "reag_garp",
    "proof": "grenzuebertrittsbescheinigung",
    "place": "Flughafen Düsseldorf",
}


# ---------------------------------------------------------- departure


async def test_the_abh_records_a_departure_with_its_proof_on_the_case_page(site: Site) -> None:
    case_id = await site.open_case()
    username = f"abh-{uuid.uuid4().hex[:8]}"
    url = f"/faelle/{case_id}/aktionen/ausreise"
    async with await site.person(Role.ABH, username) as abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert "Ausreise erfassen" in page.text and "Fall wieder eröffnen" not in page.text
        form = form_of(page.text, "ausreise")
        assert '<select id="ausreise-kind" name="kind"' in form
        assert "Überstellt in den zuständigen Staat (Dublin III)" in form
        assert '<option value="grenzuebertrittsbescheinigung">' in form

        # Refused at the fields, in German, with what was entered kept.
        missing = await abh.post(
            url,
            data={"kind": "return_programme", "proof": "grenzuebertrittsbescheinigung",
                  "crossed_on": today().isoformat()},
        )  # fmt: skip
        assert missing.status_code == 422
        form = form_of(missing.text, "ausreise")
        assert errors_at(form, "ausreise-programme") == [
            "Bitte das Programm der Rückkehrförderung angeben."
        ]
        assert errors_at(form, "ausreise-place") == [
            "Bitte den Ort des Grenzübertritts angeben (steht auf der "
            "Grenzübertrittsbescheinigung)."
        ]
        assert '<option value="return_programme" selected>' in form
        assert '<details class="action" open>' in missing.text
        other = await abh.post(
            url,
            data={"kind": "self_organised", "programme": "reag_garp", "proof": "other",
                  "crossed_on": today().isoformat()},
        )  # fmt: skip
        assert other.status_code == 422
        form = form_of(other.text, "ausreise")
        assert errors_at(form, "ausreise-programme") == [
            "Nur bei einer Ausreise mit Rückkehrförderung angeben."
        ]
        assert errors_at(form, "ausreise-description") == [
            "Bitte beschreiben, welcher Nachweis vorliegt."
        ]
        future = today() + timedelta(days=2)
        later = await abh.post(url, data={**PROVED, "crossed_on": future.isoformat()})
        assert later.status_code == 422
        assert errors_at(form_of(later.text, "ausreise"), "ausreise-crossed_on") == [
            "Das Datum darf nicht in der Zukunft liegen."
        ]
        nothing = await abh.post(url, data={})
        assert errors_at(form_of(nothing.text, "ausreise"), "ausreise-kind") == [
            "Bitte angeben, wie die Person das Land verlassen hat."
        ]
        assert await site.pool.fetchval(
            "SELECT count(*) FROM status_events WHERE case_id = $1", case_id
        ) == 1  # fmt: skip

        day = today()
        done = await abh.post(url, data={**PROVED, "crossed_on": day.isoformat()})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/faelle/{case_id}?meldung=ausreise_erfasst"
        # A second click on the same form: one event, the same answer.
        again = await abh.post(url, data={**PROVED, "crossed_on": day.isoformat()})
        assert again.status_code == 303, again.text
        await wait_for_stage(site, case_id, "closed")
        page = await abh.get(done.headers["location"])
        assert "Die Ausreise ist erfasst." in page.text
        assert "freiwillig ausgereist" in page.text
        assert f"Grenzübertrittsbescheinigung vom {day:%d.%m.%Y}, Flughafen Düsseldorf" in page.text
        # Closed: nothing more to record, but it can come back.
        assert "Ausreise erfassen" not in page.text and "Fall wieder eröffnen" in page.text
        late = await abh.post(
            url, data={**PROVED, "place": "Bahnhof", "crossed_on": day.isoformat()}
        )
        assert late.status_code == 422 and "Der Fall ist abgeschlossen." in late.text
    departures = await site.pool.fetch(
        "SELECT event_id, departure FROM status_events"
        " WHERE case_id = $1 AND status = 'ausgereist'",
        case_id,
    )
    assert len(departures) == 1 and departures[0]["event_id"].startswith("abh-departure-")
    assert departures[0]["departure"]["proof"]["place"] == "Flughafen Düsseldorf"
    assert await audit_entries(site, "departure_recorded", case_id) == [
        (username, {"event_id": departures[0]["event_id"], "kind": "return_programme"})
    ]


async def test_the_api_records_a_departure_for_the_abh(site: Site) -> None:
    case_id = await site.open_case()
    url = f"/api/v1/cases/{case_id}/departure"
    transfer = {
        "kind": "transfer",
        "proof": "other",
        "crossed_on": today().isoformat(),
        "description": "Überstellungsprotokoll der Bundespolizei",
    }
    async with await site.person(Role.ABH) as abh:
        future = {**transfer, "crossed_on": (today() + timedelta(days=1)).isoformat()}
        refused = await abh.post(url, json=future)
        assert refused.status_code == 422
        assert [e["loc"] for e in refused.json()["errors"]] == [["body", "crossed_on"]]
        no_place = await abh.post(url, json={**transfer, "proof": "grenzuebertrittsbescheinigung"})
        assert [e["loc"] for e in no_place.json()["errors"]] == [["body", "place"]]
        unknown = await abh.post("/api/v1/cases/GIBT-ES-NICHT/departure", json=transfer)
        assert unknown.status_code == 404

        first = await abh.post(url, json=transfer)
        assert first.status_code == 200, first.text
        assert first.json()["duplicate"] is False
        second = await abh.post(url, json=transfer)
        assert second.status_code == 200 and second.json()["duplicate"] is True
    await wait_for_stage(site, case_id, "closed")
    assert await site.pool.fetchval(
        "SELECT outcome FROM cases WHERE case_id = $1", case_id
    ) == "departed_enforced"  # fmt: skip
    async with await site.person(Role.KI) as ki:
        assert (await ki.post(url, json=transfer)).status_code == 403
        assert (await ki.post(f"/faelle/{case_id}/aktionen/ausreise", data={})).status_code == 403
    assert len(await audit_entries(site, "departure_recorded", case_id)) == 1


# ------------------------------------------------------------ reopening


async def test_a_closed_case_is_reopened_on_its_page_with_the_person_from_its_file(
    site: Site, dev_env: WorkflowEnvironment
) -> None:
    child = today().replace(year=today().year - 8, day=1)
    case_id = await closed_case(site, dev_env, children=(child.isoformat(),))
    username = f"abh-{uuid.uuid4().hex[:8]}"
    url = f"/faelle/{case_id}/aktionen/wiedereroeffnung"
    async with await site.person(Role.ABH, username) as abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert "Fall wieder eröffnen" in page.text and "Ausreise erfassen" not in page.text
        form = form_of(page.text, "wiedereroeffnung")
        assert '<option value="geduldet">geduldet (Duldung)</option>' in form
        assert 'name="given_name"' not in form and 'name="person' not in form

        nothing = await abh.post(url, data={"effective_date": today().isoformat()})
        assert nothing.status_code == 422
        assert errors_at(form_of(nothing.text, "wiedereroeffnung"), "wiedereroeffnung-status") == [
            "Bitte den neuen Aufenthaltsstatus wählen."
        ]
        early = {
            "status": "ausreisepflichtig",
            "effective_date": today().isoformat(),
            "departure_deadline": (today() - timedelta(days=1)).isoformat(),
        }
        refused = await abh.post(url, data=early)
        assert refused.status_code == 422
        form = form_of(refused.text, "wiedereroeffnung")
        assert errors_at(form, "wiedereroeffnung-departure_deadline") == [
            "Die Frist darf nicht vor dem Wirksamwerden liegen."
        ]
        assert '<option value="ausreisepflichtig" selected>' in form

        deadline = today() + timedelta(days=30)
        wanted = {**early, "departure_deadline": deadline.isoformat()}
        done = await abh.post(url, data=wanted)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/faelle/{case_id}?meldung=wieder_eroeffnet"
        again = await abh.post(url, data=wanted)  # a double submit: one event
        assert again.status_code == 303, again.text
        await site.task_id(case_id, "information_conversation")
        page = await abh.get(done.headers["location"])
        assert "Der Fall ist wieder eröffnet" in page.text
        assert "Fall wieder eröffnet: ausreisepflichtig" in page.text
        assert f"{deadline:%d.%m.%Y}" in page.text and "Testvorname Testnachname" in page.text
        assert "Ausreise erfassen" in page.text and "Fall wieder eröffnen" not in page.text
        # Open again, it cannot be reopened: on the page and through the API.
        other = {**wanted, "status": "geduldet"}
        open_now = await abh.post(url, data=other)
        assert open_now.status_code == 422
        assert "Nur ein abgeschlossener, nicht gelöschter Fall" in open_now.text
        api = await abh.post(f"/api/v1/cases/{case_id}/reopen", json=other)
        assert api.status_code == 409

    # The new run knows the person and the household's child from the file (the time rules
    # protect the child), not from the form.
    history = await dev_env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    sealed = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[
            0
        ]
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    [opened] = await CaseCodec(site.app.state.keys).decode(sealed)
    reopened = json.loads(opened.data)
    assert reopened["person"]["family_name"] == "Testnachname"
    assert reopened["household"]["children"] == [{"date_of_birth": child.isoformat()}]
    [(actor, detail)] = await audit_entries(site, "case_reopened", case_id)
    assert actor == username and detail["status"] == "ausreisepflichtig"
    assert await site.pool.fetchval(
        "SELECT count(*) FROM status_events WHERE case_id = $1 AND event_id LIKE 'abh-reopen-%'",
        case_id,
    ) == 1  # fmt: skip


async def test_an_erased_case_is_not_reopened(site: Site, dev_env: WorkflowEnvironment) -> None:
    case_id = await closed_case(site, dev_env)
    await erase_case(site.pool, site.app.state.keys, case_id, reason="manual")
    body = {"status": "geduldet", "effective_date": today().isoformat()}
    async with await site.person(Role.ABH) as abh:
        page = await abh.get(f"/faelle/{case_id}")
        assert "Fall wieder eröffnen" not in page.text
        refused = await abh.post(f"/api/v1/cases/{case_id}/reopen", json=body)
        assert refused.status_code == 409, refused.text
        departed = await abh.post(
            f"/api/v1/cases/{case_id}/departure",
            json={**PROVED, "crossed_on": today().isoformat()},
        )
        assert departed.status_code == 409
    assert await audit_entries(site, "case_reopened", case_id) == []


async def test_only_the_abh_reopens(site: Site, dev_env: WorkflowEnvironment) -> None:
    case_id = await closed_case(site, dev_env)
    body = {"status": "geduldet", "effective_date": today().isoformat()}
    async with await site.person(Role.KI) as ki:
        assert (await ki.post(f"/api/v1/cases/{case_id}/reopen", json=body)).status_code == 403
        page = await ki.post(f"/faelle/{case_id}/aktionen/wiedereroeffnung", data=body)
        assert page.status_code == 403
    async with await site.person(Role.ABH) as abh:
        reopened = await abh.post(f"/api/v1/cases/{case_id}/reopen", json=body)
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["duplicate"] is False
