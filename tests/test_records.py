"""Disclosure register, access report (GDPR Art. 15) and the Art. 30 record, on real PostgreSQL
and, for the API, the dev server.

The register's periods are days in Europe/Berlin: the data below sits one second either side
of both ends of March 2026, whose last Sunday switches to summer time, so the start is at
23:00 UTC and the end at 22:00 UTC.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities.case_store import CaseStore
from activities.disclosures import Disclosures
from activities.processing import (
    DataCategory,
    DataSubject,
    LegalBasis,
    NoPersonalData,
    Preset,
    Processing,
    Recipient,
    Retention,
    SpecialCategories,
    declarations,
)
from activities.register import DECLARATIONS
from commands import records as records_cli
from config.settings import Settings
from runtime.art30 import (
    DOCUMENT,
    UndeclaredActivities,
    UnregisteredDeclarations,
    activity_name,
    markdown,
    record_of,
    registered_activities,
    registered_record,
)
from schemas.accounts import Role
from schemas.case import SupporterReport
from schemas.events import StatusEvent
from schemas.gdpr import CSV_COLUMNS
from schemas.records import (
    KI_RECIPIENT,
    CaseOpening,
    ConsentRecord,
    Entry,
    Handover,
    SupporterRecord,
    Withdrawal,
    partner_recipient,
)
from service.accounts import AccountService
from service.records import RecordsService
from tests.casekit import PERSON
from tests.test_api import (
    PASSWORD,
    V1,
    event,
    logged_in,
    new_case_id,
    person,
    to_follow_up,
    today,
)

ROOT = Path(__file__).resolve().parent.parent

# Berlin is UTC+1 until 29 March 2026, 02:00, and UTC+2 from then on.
BEFORE_MARCH = datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC)  # 28 Feb, 23:59:59 in Berlin
MARCH_STARTS = datetime(2026, 2, 28, 23, 0, 0, tzinfo=UTC)  # 1 Mar, 00:00:00
MARCH_ENDS = datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC)  # 31 Mar, 23:59:59
AFTER_MARCH = datetime(2026, 3, 31, 22, 0, 0, tzinfo=UTC)  # 1 Apr, 00:00:00

# The person's name, contact data and address: never in the register.
PERSONAL = (
    PERSON["given_name"],
    PERSON["family_name"],
    PERSON["phone"],
    PERSON["address"]["street"],
    PERSON["address"]["postal_code"],
    PERSON["date_of_birth"],
)


class Seeder:
    """Writes a case the way the workflow's activities do, at chosen times."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.store = CaseStore(pool)
        self.disclosures = Disclosures(pool)
        self.env = ActivityEnvironment()
        self.case_id = f"REC-{uuid.uuid4().hex[:10]}"
        self.seq = 0
        self.consent_id = str(uuid.uuid4())

    def entry(self, at: datetime, kind: str = "test") -> Entry:
        self.seq += 1
        return Entry(case_id=self.case_id, seq=self.seq, at=at, kind=kind, detail=kind)

    async def open(self, at: datetime, children: tuple[str, ...] = ()) -> None:
        opening = StatusEvent.model_validate(
            {
                "event_id": f"{self.case_id}-e1",
                "case_id": self.case_id,
                "status": "ausreisepflichtig",
                "effective_date": "2026-02-01",
                "person": PERSON,
                "household": {"children": [{"date_of_birth": born} for born in children]},
            }
        )
        await self.env.run(self.store.open_case, CaseOpening(entry=self.entry(at), event=opening))
        await self.env.run(
            self.disclosures.record_consent,
            ConsentRecord(
                entry=self.entry(at), consent_id=self.consent_id, signed_on=date(2026, 2, 1)
            ),
        )

    async def hand_over(self, recipient: str, at: datetime) -> int:
        receipt = await self.env.run(
            self.disclosures.hand_over,
            Handover(
                entry=self.entry(at, "disclosure"),
                consent_id=self.consent_id,
                recipient=recipient,
                purpose="Vermittlung an Beratung zur freiwilligen Ausreise",
            ),
        )
        return receipt.disclosure_id

    async def withdraw(self, at: datetime) -> None:
        await self.env.run(
            self.disclosures.withdraw_consent,
            Withdrawal(
                entry=self.entry(at),
                consent_id=self.consent_id,
                withdrawn_on=at.date(),
                received_by=None,
            ),
        )


async def march_around(pool: asyncpg.Pool) -> dict[str, int]:
    """Two cases with disclosures one second either side of March's boundaries."""
    withdrawn = Seeder(pool)
    await withdrawn.open(BEFORE_MARCH)
    ids = {
        "before": await withdrawn.hand_over(partner_recipient(1), BEFORE_MARCH),
        "start": await withdrawn.hand_over(KI_RECIPIENT, MARCH_STARTS),
    }
    await withdrawn.withdraw(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    kept = Seeder(pool)
    await kept.open(BEFORE_MARCH)
    ids["end"] = await kept.hand_over(partner_recipient(2), MARCH_ENDS)
    ids["after"] = await kept.hand_over(partner_recipient(3), AFTER_MARCH)
    return ids


# ---------------------------------------------------------- disclosure register


async def test_a_period_holds_exactly_its_disclosures_in_berlin_days(pool: asyncpg.Pool) -> None:
    ids = await march_around(pool)
    service = RecordsService(pool)
    march = await service.disclosure_register(date(2026, 3, 1), date(2026, 3, 31))
    assert [d.disclosure_id for d in march.disclosures] == [ids["start"], ids["end"]]
    first_day = await service.disclosure_register(date(2026, 3, 1), date(2026, 3, 1))
    assert [d.disclosure_id for d in first_day.disclosures] == [ids["start"]]
    last_of_february = await service.disclosure_register(date(2026, 2, 28), date(2026, 2, 28))
    assert [d.disclosure_id for d in last_of_february.disclosures] == [ids["before"]]
    first_of_april = await service.disclosure_register(date(2026, 4, 1), date(2026, 4, 1))
    assert [d.disclosure_id for d in first_of_april.disclosures] == [ids["after"]]
    everything = await service.disclosure_register(date(1, 1, 1), date(9999, 12, 31))
    assert len(everything.disclosures) == 4

    start, end = march.disclosures
    assert (start.recipient, start.recipient_name) == ("ki", "Kommunales Integrationszentrum")
    assert start.categories == ["personal_data", "contact_data", "residence_status"]
    assert start.consent_signed_on == date(2026, 2, 1)
    assert start.disclosed_at.isoformat() == "2026-03-01T00:00:00+01:00"
    assert start.consent_withdrawn_on == date(2026, 3, 10)
    assert start.erasure_requested_at is not None
    assert start.erasure_requested_at.isoformat() == "2026-03-10T10:00:00+01:00"
    assert (end.recipient, end.recipient_name) == ("partner:2", "Caritas Flüchtlingsberatung Bönen")
    assert end.disclosed_at.isoformat() == "2026-03-31T23:59:59+02:00"
    assert end.consent_withdrawn_on is None and end.erasure_requested_at is None
    assert start.consent_id != end.consent_id


async def test_the_register_through_the_api_as_json_and_csv(
    app: FastAPI, admin: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ids = await march_around(pool)
    period = {"from": "2026-03-01", "to": "2026-03-31"}
    answer = await admin.get(f"{V1}/admin/disclosures", params=period)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["period_from"], body["period_to"]) == ("2026-03-01", "2026-03-31")
    assert body["time_zone"] == "Europe/Berlin"
    assert [d["disclosure_id"] for d in body["disclosures"]] == [ids["start"], ids["end"]]
    for value in PERSONAL:
        assert value not in answer.text

    exported = await admin.get(f"{V1}/admin/disclosures", params={**period, "format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "offenlegungen_2026-03-01_2026-03-31.csv" in exported.headers["content-disposition"]
    # As German Excel opens it: UTF-8 with a BOM, ";" between cells, CRLF.
    assert exported.content.startswith(b"\xef\xbb\xbf")
    text = exported.content.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert "recipient" in rows[0] and "consent_signed_on" in rows[0]
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [int(r["disclosure_id"]) for r in records] == [ids["start"], ids["end"]]
    assert records[0]["categories"] == "personal_data, contact_data, residence_status"
    assert records[0]["erasure_requested_at"].startswith("2026-03-10T10:00:00")
    assert records[1]["consent_withdrawn_on"] == ""
    for value in PERSONAL:
        assert value not in exported.text


async def test_bad_or_reversed_dates_are_422_naming_the_field(admin: httpx.AsyncClient) -> None:
    url = f"{V1}/admin/disclosures"
    cases = [
        ({"from": "2026-13-01", "to": "2026-12-31"}, ["query", "from"]),
        ({"from": "2026-01-01", "to": "31.12.2026"}, ["query", "to"]),
        ({"to": "2026-12-31"}, ["query", "from"]),
        ({"from": "2026-03-02", "to": "2026-03-01"}, ["query", "to"]),
        ({"from": "2026-01-01", "to": "2026-01-31", "format": "xml"}, ["query", "format"]),
    ]
    for params, loc in cases:
        response = await admin.get(url, params=params)
        assert response.status_code == 422, (params, response.text)
        assert [error["loc"] for error in response.json()["errors"]] == [loc], params
    reversed_ = await admin.get(url, params={"from": "2026-03-02", "to": "2026-03-01"})
    assert reversed_.json()["errors"][0]["msg"] == "must not be before from"
    # The ends of the calendar are answered, not a 500.
    widest = await admin.get(url, params={"from": "0001-01-01", "to": "9999-12-31"})
    assert widest.status_code == 200, widest.text


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    from service.csv_export import cell, german_csv

    assert cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell(["a", "b"]) == "a, b"
    assert cell(None) == ""
    assert cell("AWO Werne") == "AWO Werne"
    # A ";" or a quote inside a cell is quoted, so the columns stay where they are.
    assert german_csv([["a;b", 'Say "hi"', "Müller"]]) == (
        b'\xef\xbb\xbf"a;b";"Say ""hi""";M\xc3\xbcller\r\n'
    )


# ---------------------------------------------------------------- access report


async def test_the_access_report_of_a_real_case(
    app: FastAPI,
    http: httpx.AsyncClient,
    ki: httpx.AsyncClient,
    admin: httpx.AsyncClient,
) -> None:
    case_id = await to_follow_up(http, ki)
    household = {"children": [{"date_of_birth": "2015-06-01"}], "reference": "HH-2024-07"}
    changed = await http.post(
        f"{V1}/status-events", json=event(case_id, 2, status="geduldet", household=household)
    )
    assert changed.status_code == 202, changed.text
    supporter = {"name": "Helga Helferin", "contact": "0170 1234567", "is_representative": True}
    reported = await http.post(f"{V1}/cases/{case_id}/supporters", json=supporter)
    assert reported.status_code == 200, reported.text
    assert (await http.get(f"{V1}/cases/{case_id}")).status_code == 200  # an earlier opening
    noted = await http.post(f"{V1}/cases/{case_id}/notes", json={"text": "Pass beantragt."})
    assert noted.status_code == 201, noted.text

    # The KI may read the case (it was disclosed to it), but not the report; nor operations.
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 200
    assert (await ki.get(f"{V1}/cases/{case_id}/access-report")).status_code == 403
    async with logged_in(app, Role.OPS) as ops:
        assert (await ops.get(f"{V1}/cases/{case_id}/access-report")).status_code == 403

    withdrawn = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert withdrawn.status_code == 200, withdrawn.text

    response = await http.get(f"{V1}/cases/{case_id}/access-report")
    assert response.status_code == 200, response.text
    report = response.json()
    expected = person("Kamen")
    assert report["case_id"] == case_id
    assert report["case"]["residence_status"] == "geduldet"
    assert report["person"]["family_name"] == expected["family_name"]
    assert report["person"]["phone"] == expected["phone"]
    assert report["person"]["street"] == expected["address"]["street"]
    assert report["household_children_born_on"] == ["2015-06-01"]
    assert report["household_reference"] == "HH-2024-07"
    assert [s["name"] for s in report["supporters"]] == ["Helga Helferin"]
    [consent] = report["consents"]
    assert consent["withdrawn_on"] == str(today())
    assert [e["status"] for e in report["status_events"]] == ["ausreisepflichtig", "geduldet"]
    kinds = {task["kind"]: task for task in report["tasks"]}
    assert kinds["information_conversation"]["completion"]["routes_discussed"] == ["§25b AufenthG"]
    assert "representative" in kinds  # the supporter's follow-up task for the ABH
    assert report["timeline"]
    [note] = report["notes"]
    assert note["text"] == "Pass beantragt." and note["author_role"] == "abh"

    # What was passed on, to whom, on which consent, and the erasure that followed.
    recipients = [d["recipient"] for d in report["disclosures"]]
    assert recipients[0] == "ki" and recipients[1].startswith("partner:")
    for disclosure in report["disclosures"]:
        assert disclosure["consent_id"] == consent["consent_id"]
        assert disclosure["consent_signed_on"] == consent["signed_on"]
        assert disclosure["consent_withdrawn_on"] == str(today())
        assert disclosure["erasure_requested_at"] is not None
    assert sorted(e["disclosure_id"] for e in report["erasure_requests"]) == sorted(
        d["disclosure_id"] for d in report["disclosures"]
    )
    [referral] = report["ki_referrals"]
    # The KI's copy was erased with the withdrawal: the report shows it was held, and that
    # nothing of the person is left in it.
    assert referral["erased_at"] is not None
    assert referral["personal_data"] == {} and referral["contact_data"] == {}

    # Who opened the case: the case views, and this very report.
    opened = [(entry["role"], entry["what"]) for entry in report["access_log"]]
    assert opened == [
        ("abh", "api: case view"),
        ("ki", "api: case view"),
        ("abh", "api: access report"),
    ]

    again = await admin.get(f"{V1}/cases/{case_id}/access-report")
    assert again.status_code == 200, again.text
    assert again.json()["access_log"][-1]["role"] == "admin"
    log = await admin.get(f"{V1}/admin/access-log", params={"case_id": case_id})
    assert [entry["what"] for entry in log.json()].count("api: access report") == 2


async def test_an_unknown_case_has_no_report_and_leaves_no_access(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    unknown = await http.get(f"{V1}/cases/{new_case_id()}/access-report")
    assert (unknown.status_code, unknown.json()["type"], unknown.json()["detail"]) == (
        404,
        "/problems/not-found",
        "unknown case",
    )
    assert (await admin.get(f"{V1}/cases/{new_case_id()}/access-report")).status_code == 404
    assert (await http.get(f"{V1}/cases/not%20a%20case/access-report")).status_code == 422
    assert await pool.fetchval("SELECT count(*) FROM access_log") == 0


# ------------------------------------------------------------------------ CLI


async def test_the_cli_exports_the_register_and_refuses_a_reversed_period(
    dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = await march_around(pool)
    settings = Settings().model_copy(update={"database_url": dsn})
    out = io.StringIO()
    code = await records_cli.run(
        ["disclosures", "--from", "2026-03-01", "--to", "2026-03-31"], settings=settings, out=out
    )
    assert code == 0
    register = json.loads(out.getvalue())
    assert [d["disclosure_id"] for d in register["disclosures"]] == [ids["start"], ids["end"]]

    out = io.StringIO()
    code = await records_cli.run(
        ["disclosures", "--from", "2026-03-01", "--to", "2026-03-31", "--csv"],
        settings=settings,
        out=out,
    )
    assert code == 0
    # As German Excel opens it: BOM, ";" between cells.
    assert out.getvalue().splitlines()[0] == "\ufeff" + ";".join(CSV_COLUMNS)
    assert len(out.getvalue().splitlines()) == 3
    for value in PERSONAL:
        assert value not in out.getvalue()

    reversed_ = ["disclosures", "--from", "2026-03-02", "--to", "2026-03-01"]
    assert await records_cli.run(reversed_, settings=settings, out=io.StringIO()) == 1
    assert "to: must not be before from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as malformed:
        await records_cli.run(["disclosures", "--from", "1.3.2026", "--to", "2026-03-31"])
    assert malformed.value.code == 2


async def test_the_cli_access_report_is_logged_for_the_named_account(
    dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = Seeder(pool)
    await seeded.open(MARCH_STARTS, children=("2015-06-01",))
    await seeded.env.run(
        seeded.store.register_supporter,
        SupporterRecord(
            entry=seeded.entry(MARCH_STARTS),
            supporter_id=str(uuid.uuid4()),
            report=SupporterReport(
                name="Helga Helferin", contact="0170 1", is_representative=False
            ),
        ),
    )
    await seeded.hand_over(KI_RECIPIENT, MARCH_ENDS)
    accounts = AccountService(pool)
    await accounts.create_account("m.muster", "M. Muster", Role.ABH, PASSWORD)
    await accounts.create_account("k.i", "K. I.", Role.KI, PASSWORD)
    settings = Settings().model_copy(update={"database_url": dsn})

    out = io.StringIO()
    code = await records_cli.run(
        ["access-report", seeded.case_id, "--username", "m.muster"], settings=settings, out=out
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.getvalue())
    assert report["person"]["given_name"] == PERSON["given_name"]
    assert report["household_children_born_on"] == ["2015-06-01"]
    assert report["supporters"][0]["name"] == "Helga Helferin"
    assert [d["recipient"] for d in report["disclosures"]] == ["ki"]
    assert report["ki_referrals"][0]["personal_data"]["family_name"] == PERSON["family_name"]
    assert [(e["username"], e["what"]) for e in report["access_log"]] == [
        ("m.muster", "cli: access report")
    ]

    for refused in (
        ["access-report", seeded.case_id, "--username", "k.i"],  # the KI's role
        ["access-report", seeded.case_id, "--username", "niemand"],
        ["access-report", "REC-unknown", "--username", "m.muster"],
    ):
        assert await records_cli.run(refused, settings=settings, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "role ki" in err and "niemand" in err and "unknown case" in err
    assert await pool.fetchval("SELECT count(*) FROM access_log") == 1


# ---------------------------------------------------------------- Art. 30


def test_every_activity_the_worker_registers_is_declared() -> None:
    activities = registered_activities()  # only looked at, never run: no pool, no keys
    registered = [activity_name(fn) for fn in activities]
    undeclared = [fn.__qualname__ for fn in activities if activity_name(fn) not in DECLARATIONS]
    assert undeclared == []
    # ... and the table declares nothing that does not run.
    assert [name for name in DECLARATIONS if name not in registered] == []
    record = registered_record()
    assert len(record.activities) == len(activities)
    assert {a.activity for a in record.activities} >= {"handover.send", "consent.withdraw"}


def test_the_committed_record_is_what_the_code_declares() -> None:
    committed = (ROOT / DOCUMENT).read_text("utf-8")
    assert committed == markdown(registered_record()), (
        f"{DOCUMENT} is out of date: regenerate it with "
        f"`.venv/bin/python -m commands.records art30 > {DOCUMENT}`"
    )


async def test_the_cli_prints_the_record() -> None:
    out = io.StringIO()
    assert await records_cli.run(["art30"], out=out) == 0
    assert out.getvalue() == (ROOT / DOCUMENT).read_text("utf-8")
    out = io.StringIO()
    assert await records_cli.run(["art30", "--format", "json"], out=out) == 0
    handover = next(
        a for a in json.loads(out.getvalue())["activities"] if a["activity"] == "handover.send"
    )
    assert LegalBasis.CONSENT.value in handover["declaration"]["legal_basis"]
    assert LegalBasis.EXPLICIT_CONSENT.value in handover["declaration"]["legal_basis"]


def test_the_record_names_legal_bases_and_the_confirmation_it_needs() -> None:
    text = markdown(registered_record())
    for needed in ("§ 86 AufenthG", "DSG NRW", "Art. 6 Abs. 1 lit. a", "Art. 9 Abs. 2 lit. a"):
        assert needed in text
    assert "Datenschutzbeauftragten des Kreises bestätigt werden" in text


def test_an_undeclared_activity_is_refused_by_name() -> None:
    @activity.defn(name="test.undeclared")
    async def undeclared(arg: str) -> None:
        pass

    with pytest.raises(UndeclaredActivities) as refused:
        record_of([undeclared], {})
    assert refused.value.names == [f"{__name__}.{undeclared.__qualname__}"]


def test_a_declaration_without_a_registered_activity_is_refused_by_name() -> None:
    @activity.defn(name="test.declared")
    async def declared(arg: str) -> None:
        pass

    table = declarations(
        ("test.declared", NoPersonalData(reason="Zählt nur.")),
        ("test.gone", NoPersonalData(reason="Läuft nicht mehr.")),
    )
    with pytest.raises(UnregisteredDeclarations) as refused:
        record_of([declared], table)
    assert refused.value.names == ["test.gone"]


def test_no_personal_data_is_a_declaration_that_must_say_why() -> None:
    @activity.defn(name="test.counts")
    async def counts(arg: str) -> None:
        pass

    table = declarations(
        ("test.counts", NoPersonalData(reason="Zählt nur offene Aufgaben je Warteschlange."))
    )
    text = markdown(record_of([counts], table))
    assert "`test.counts`" in text
    assert "**Keine personenbezogenen Daten:** Zählt nur offene Aufgaben je Warteschlange." in text
    with pytest.raises(ValidationError):
        NoPersonalData(reason="")


def test_a_declaration_is_checked_when_it_is_written() -> None:
    fields = {
        "purpose": "Test",
        "legal_basis": (LegalBasis.ABH_TASK,),
        "categories_of_data": (DataCategory.IDENTITY,),
        "data_subjects": (DataSubject.PERSON,),
        "recipients": (Recipient.INTERNAL,),
        "retention": Retention.CASE_FILE,
        "special_categories": SpecialCategories.NONE,
    }
    with pytest.raises(ValidationError):
        Processing.model_validate({**fields, "legal_basis": ()})
    with pytest.raises(ValidationError):
        Processing.model_validate({**fields, "recipients": ("irgendwer",)})
    declared = Processing.model_validate(fields)
    # A preset's entry is checked the same way: replacing a part with nothing is refused.
    preset = Preset.model_validate({k: v for k, v in fields.items() if k != "purpose"})
    assert preset.declare("Test") == declared
    with pytest.raises(ValidationError):
        preset.declare("Test", legal_basis=())
    with pytest.raises(ValidationError):
        preset.declare("")

    with pytest.raises(TypeError, match="declared twice"):
        declarations(
            ("test.declared", declared), ("test.declared", NoPersonalData(reason="doch nicht"))
        )
