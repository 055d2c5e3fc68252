"""The report to the committees (issue 15): exact figures of a known set of cases through
every outcome, suppression at 4 and 5 and its second step, erased cases still counted, no
personal data in any format, the same figures made again, and a tampered report found."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pypdf
from fastapi import FastAPI

from commands import report as report_cli
from config.settings import Settings
from schemas.offers import COUNTY
from schemas.report import CommitteeReport
from service.report import (
    HIDDEN,
    SMALL,
    ReportService,
    check_request,
    report_csv,
    report_pdf,
    report_xlsx,
    suppress,
)
from service.rules import RuleService
from store import erasure
from store.db import Connection
from tests.test_api import V1, logged_in

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
CANARY: dict[str, str | date] = {
    "given_name": "Zephyrina",
    "family_name": "Quackenbusch",
    "date_of_birth": date(1977, 7, 17),
    "street": "Kanarienweg 4711",
    "phone": "+49 2303 987654321",
    "email": "zephyrina.quackenbusch@example.org",
}


async def _case(con: Connection, town: str, *, canary: bool = False) -> str:
    case_id = f"REP-{uuid.uuid4().hex[:10]}"
    await con.execute(
        "INSERT INTO cases (case_id, stage, residence_status, town, opened_at, updated_at)"
        " VALUES ($1, 'opening', 'ausreisepflichtig', $2, $3, $3)",
        case_id,
        town,
        DAY,
    )
    if canary:
        await con.execute(
            "INSERT INTO persons (case_id, given_name, family_name, date_of_birth, nationality,"
            " language, phone, email, street, postal_code, town)"
            " VALUES ($1, $2, $3, $4, 'SYR', 'ar', $5, $6, $7, '59423', $8)",
            case_id,
            CANARY["given_name"],
            CANARY["family_name"],
            CANARY["date_of_birth"],
            CANARY["phone"],
            CANARY["email"],
            CANARY["street"],
            town,
        )
    return case_id


async def _task(
    con: Connection, case_id: str, kind: str, completion: dict[str, Any], *, late: bool
) -> None:
    task_id = uuid.uuid4()
    await con.execute(
        "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at)"
        " VALUES ($1, $2, $3, 'abh', 'open', $4, $5)",
        task_id,
        case_id,
        kind,
        DAY + timedelta(days=-1 if late else 1),
        DAY - timedelta(days=5),
    )
    await con.execute(
        "UPDATE tasks SET status = 'completed', closed_at = $2, completion = $3 WHERE task_id = $1",
        task_id,
        DAY,
        {"kind": kind, **completion},
    )


async def _close(con: Connection, case_id: str, outcome: str, kind: str | None) -> None:
    await con.execute(
        "UPDATE cases SET stage = 'closed', outcome = $2, departure_kind = $3, closed_at = $4,"
        " updated_at = $4 WHERE case_id = $1",
        case_id,
        outcome,
        kind,
        DAY + timedelta(days=1),
    )


async def _known_cases(pool: asyncpg.Pool) -> list[str]:
    """Unna: 5 conversations (4 in time, 1 late), outcomes of every kind; Kamen: 4 cases."""
    async with pool.acquire() as con:
        unna = [await _case(con, "Unna", canary=i == 0) for i in range(5)]
        kamen = [await _case(con, "Kamen") for _ in range(4)]
        for i, case_id in enumerate(unna):
            perspective = "route_possible" if i == 0 else "none_evident"
            await _task(
                con,
                case_id,
                "information_conversation",
                {"held_on": "2026-03-10", "perspective": perspective},
                late=i == 4,
            )
        consent = uuid.uuid4()
        await con.execute(
            "INSERT INTO consents (consent_id, case_id, signed_on, recorded_at)"
            " VALUES ($1, $2, '2026-03-10', $3)",
            consent,
            unna[1],
            DAY,
        )
        await con.execute(
            "UPDATE consents SET withdrawn_on = '2026-03-12' WHERE consent_id = $1", consent
        )
        await _task(
            con,
            unna[2],
            "enforcement_result",
            {
                "result": "carried_out",
                "started_at": "2026-03-10T23:30:00+01:00",
                "ended_at": "2026-03-11T02:00:00+01:00",
                "minors_present": True,
            },
            late=False,
        )
        await con.execute(
            "INSERT INTO enforcement_incidents (incident_id, case_id, rule_ids, started_at,"
            " ended_at, minors_present, reason, decided_by, recorded_at)"
            " VALUES ($1, $2, '{night}', '2026-03-10T23:30:00+01', '2026-03-11T02:00:00+01',"
            " true, 'Zephyrina Quackenbusch war krank', 'Leitung', $3)",
            uuid.uuid4(),
            unna[2],
            DAY,
        )
        await _close(con, unna[0], "residence_granted", None)
        await _close(con, unna[1], "departed_voluntarily", "return_programme")
        await _close(con, unna[2], "departed_enforced", "enforced")
        await _close(con, unna[3], "departed_voluntarily", "self_organised")
        await _close(con, unna[4], "moved_away", None)
        for case_id in kamen:
            await _close(con, case_id, "departed_voluntarily", "self_organised")
    return unna


def _service(pool: asyncpg.Pool) -> ReportService:
    return ReportService(pool, RuleService(pool, Settings()))


def _table(report: CommitteeReport) -> dict[str, list[str]]:
    return {line.key: line.shown for line in report.lines}


async def test_known_cases_give_the_expected_table(pool: asyncpg.Pool) -> None:
    unna = await _known_cases(pool)
    async with pool.acquire() as con, con.transaction():  # erased: the figures stay
        await erasure.remove_personal_rows(con, unna[0])
    report = await _service(pool).generate(
        check_request(date(2026, 3, 1), date(2026, 3, 31), None), "test"
    )
    unna_at, kamen_at, county = (report.columns.index(c) for c in ("Unna", "Kamen", COUNTY))
    table = {key: (row[unna_at], row[kamen_at], row[county]) for key, row in _table(report).items()}
    # Kamen's 4 is "< 5"; Unna's 5 would be shown, but 9 - 5 would give Kamen away: "x".
    assert table["new_cases"] == (HIDDEN, SMALL, "9")
    # Unna's 1 late conversation is "< 5"; its 4 in time would be 5 - 1: hidden too.
    assert table["conversations"] == ("5", "0", "5")
    assert table["conversations_late"] == (SMALL, "0", SMALL)
    assert table["conversations_in_time"] == (SMALL, "0", SMALL)
    assert table["perspective_route"] == (SMALL, "0", SMALL)
    assert table["perspective_none"] == (SMALL, "0", SMALL)
    assert table["consents_signed"] == (SMALL, "0", SMALL)
    assert table["consents_withdrawn"] == (SMALL, "0", SMALL)
    # closed: Unna 5 (every kind once), Kamen 4 voluntary without support: 9 in the county.
    assert table["closed"] == (HIDDEN, SMALL, "9")
    assert table["voluntary_plain"] == (SMALL, SMALL, "5")
    assert table["voluntary_support"] == (SMALL, "0", SMALL)
    assert table["enforced"] == (SMALL, "0", SMALL)
    assert table["permit"] == (SMALL, "0", SMALL)
    assert table["moved"] == (SMALL, "0", SMALL)
    assert table["closed_by_abh"] == ("0", "0", "0")
    assert table["enforcements"] == (SMALL, "0", SMALL)
    assert table["enforcement_minors_night"] == (SMALL, "0", SMALL)
    assert table["incidents"] == (SMALL, "0", SMALL)
    values = {line.key: line.values[county] for line in report.lines}
    assert values["new_cases"] == 9 and values["incidents"] is None


def test_secondary_suppression_leaves_no_sum_with_one_hidden_cell() -> None:
    values = {("t", "a"): 12, ("t", "b"): 3, ("t", "c"): 7, ("t", "d"): 0, ("t", "all"): 22}
    shown = suppress(values, [(("t", "all"), [("t", "a"), ("t", "b"), ("t", "c"), ("t", "d")])])
    assert [shown[("t", k)].text for k in "abcd"] == ["12", SMALL, HIDDEN, "0"]
    assert shown[("t", "all")].text == "22"
    edge = suppress({("e", "4"): 4, ("e", "5"): 5}, [])
    assert (edge[("e", "4")].text, edge[("e", "5")].text) == (SMALL, "5")


async def test_no_personal_data_in_any_format(pool: asyncpg.Pool) -> None:
    await _known_cases(pool)
    report = await _service(pool).generate(
        check_request(date(2026, 3, 1), date(2026, 3, 31), "Unna"), "test"
    )
    with zipfile.ZipFile(io.BytesIO(report_xlsx(report))) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    pdf = pypdf.PdfReader(io.BytesIO(report_pdf(report)))
    pdf_text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Bericht für die Ausschüsse" in pdf_text and "Abschlüsse" in pdf_text
    csv = report_csv(report)
    assert csv.startswith(b"\xef\xbb\xbf") and b"\r\n" in csv and b";" in csv
    for text in (report.model_dump_json(), csv.decode("utf-8-sig"), sheet, pdf_text):
        for value in CANARY.values():
            needle = value.strftime("%d.%m.%Y") if isinstance(value, date) else value
            assert needle not in text
            assert str(value) not in text
        assert "krank" not in text


async def test_made_again_gives_the_same_figures_and_a_tampered_report_is_found(
    pool: asyncpg.Pool,
) -> None:
    await _known_cases(pool)
    out = io.BytesIO()
    code = await report_cli.execute(
        _service(pool),
        report_cli.build_parser().parse_args(
            ["generate", "--from", "2026-03-01", "--to", "2026-03-31"]
        ),
        out,
    )
    assert code == 0
    report = CommitteeReport.model_validate_json(out.getvalue())
    async with pool.acquire() as con:  # later facts change nothing in it
        await _case(con, "Unna")
    verified = await _service(pool).verify(report.report_id)
    assert verified.ok, verified.problems
    async with pool.acquire() as con:
        await con.execute(
            "UPDATE committee_reports SET published = jsonb_set(published,"
            " '{lines,0,shown,8}', '\"7\"') WHERE report_id = $1::uuid",
            report.report_id,
        )
    tampered = await _service(pool).verify(report.report_id)
    assert not tampered.ok
    assert tampered.problems == ["the stored table differs from the figures counted again"]


async def test_the_api_gives_the_report_in_every_format_and_names_a_reversed_period(
    pool: asyncpg.Pool, app: FastAPI
) -> None:
    await _known_cases(pool)
    async with logged_in(app, "reporting") as http:
        period = {"from": "2026-03-01", "to": "2026-03-31"}
        answer = await http.get(f"{V1}/reports/committee", params=period)
        assert answer.status_code == 200, answer.text
        assert answer.json()["columns"][-1] == COUNTY
        for output, media in (
            ("csv", "text/csv"),
            ("xlsx", "application/vnd"),
            ("pdf", "application/pdf"),
        ):
            got = await http.get(f"{V1}/reports/committee", params={**period, "format": output})
            assert got.status_code == 200 and got.headers["content-type"].startswith(media)
        reversed_period = await http.get(
            f"{V1}/reports/committee", params={"from": "2026-03-31", "to": "2026-03-01"}
        )
        assert reversed_period.status_code == 422
        assert "to" in reversed_period.text
        assert (await http.get(f"{V1}/cases/REP-x")).status_code == 403


async def test_the_page_makes_a_report_and_offers_its_files(
    pool: asyncpg.Pool, app: FastAPI
) -> None:
    await _known_cases(pool)
    async with logged_in(app, "reporting") as page:
        form = {"von": "2026-03-01", "bis": "2026-03-31", "stadt": "Unna"}
        made = await page.post("/admin/bericht", data=form)
        assert made.status_code == 303, made.text
        shown = await page.get(made.headers["location"])
        assert shown.status_code == 200
        assert "Bericht für die Ausschüsse" in shown.text and "Neue Fälle" in shown.text
        assert str(CANARY["family_name"]) not in shown.text
        pdf = await page.get(made.headers["location"] + "/datei", params={"format": "pdf"})
        assert pdf.headers["content-type"] == "application/pdf"
        refused = await page.post("/admin/bericht", data={**form, "bis": "2026-02-01"})
        assert refused.status_code == 422 and "endet vor" in refused.text
        assert (await page.get("/posteingang")).status_code in (403, 404)
